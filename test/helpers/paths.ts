import { join } from "node:path";
import { PROJECT_ROOT } from "../../harness/util/version.ts";

/** The real IntentionQA files, read in place: never copied into the project. */
export const SHARED_DATA_DIR = join(PROJECT_ROOT, "..", "shared", "datasets", "intentionqa");
export const HARNESS_BIN = join(PROJECT_ROOT, "bin", "harness.js");

/** The reference card (spec, published tables), read in place where a checkout has it beside the project. */
export const SHARED_SPEC_DIR = join(PROJECT_ROOT, "..", "shared", "spec");
