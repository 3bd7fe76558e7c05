/**
 * The one door an analysis uses to regenerate MIND intentions the way distill made them (same
 * prompts, images, cache identity, retries): `analyze robustness` today, the next analysis tomorrow.
 * Everything here is distill's own; this module only gathers it, so an analysis imports one file.
 */
export { openMindModel, type MindModelSettings } from "./answerers.ts";
export { DISTILL_DEFAULTS, distillIdentity, IMAGE_LAYOUTS, type ImageLayout } from "./defaults.ts";
export { ImageProblem } from "./images.ts";
export { ImageMemo, intentionRequest, keptAnswer, recordImages, type DistillSettings } from "./pipeline.ts";
export { readRecords, type Product } from "./records.ts";
