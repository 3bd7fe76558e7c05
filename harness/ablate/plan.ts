import { join } from "node:path";
import { needsOf } from "../sft/recipes.ts";
import { sha256, stableStringify } from "../util/fs.ts";
import type { AblationConfig, AblationRecipe, ResolvedBackbone } from "./config.ts";

/** One cell of the backbones x recipes matrix. */
export interface AblationCell {
  id: string;
  backbone: ResolvedBackbone;
  recipe: AblationRecipe;
  dir: string;
  /** The fine-tuning run directory (absent for zero-shot). */
  runDir?: string;
  /** Everything that decides the cell's result, hashed: a finished cell with the same key is reused. */
  key: string;
}

/** Hashes of the files a cell reads, computed once at the edge. */
export interface CellInputs {
  backboneConfigSha: Record<string, string>;
  kbSha?: string;
  unimodalKbSha?: string;
  criticFileSha?: string;
  protocolVersion: string;
}

export function cellId(backbone: string, recipe: AblationRecipe): string {
  return `${backbone}-${recipe}`;
}

export function planCells(
  config: AblationConfig,
  backbones: readonly ResolvedBackbone[],
  inputs: CellInputs,
  workDir: string,
): AblationCell[] {
  const cells: AblationCell[] = [];
  for (const backbone of backbones) {
    for (const recipe of config.recipes) {
      const id = cellId(backbone.name, recipe);
      const dir = join(workDir, "cells", id);
      const needs = needsOf(recipe);
      const training = !needs.trains
        ? null
        : {
            kb: needs.kb === "unimodal_kb" ? inputs.unimodalKbSha : inputs.kbSha,
            decontaminate: config.data.decontaminate,
            ...(needs.criticScores
              ? { threshold: config.data.critic_threshold, column: config.data.critic_column, file: inputs.criticFileSha }
              : {}),
            maxSteps: backbone.maxSteps,
          };
      const key = sha256(
        stableStringify({
          backbone: { config: inputs.backboneConfigSha[backbone.name], modelPath: backbone.modelPath },
          recipe,
          training,
          eval: config.eval,
          protocol: inputs.protocolVersion,
        }),
      );
      cells.push({ id, backbone, recipe, dir, ...(needs.trains ? { runDir: join(dir, "run") } : {}), key });
    }
  }
  return cells;
}

/** `--cell mistral/mind` or `mistral-mind`. */
export function selectCell(cells: readonly AblationCell[], spec: string): AblationCell | undefined {
  const normalised = spec.replace("/", "-");
  return cells.find((c) => c.id === normalised);
}
