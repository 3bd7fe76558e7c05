import type { ParseName } from "../../scoring/parses.ts";
import { loadReports } from "../load.ts";
import { requireParse } from "../parses.ts";
import { buildViewerData } from "./data.ts";
import { renderViewer } from "./page.ts";
import { withSamples } from "./samples.ts";

/**
 * `harness report --format viewer`: the reports (and each run folder's samples.jsonl) as the
 * per-question viewer page, opened on the --metric parse (every report must have it, as for the tables).
 * Reports are checked on load as for every other format.
 */
export async function viewerPage(files: readonly string[], defaultParse: ParseName): Promise<string> {
  const loaded = await loadReports(files);
  requireParse(loaded, defaultParse);
  return renderViewer(buildViewerData(await withSamples(loaded), defaultParse));
}
