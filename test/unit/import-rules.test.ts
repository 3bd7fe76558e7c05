import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import { PROJECT_ROOT } from "../../harness/util/version.ts";

/**
 * The import rules `npm run lint` enforces (.dependency-cruiser.cjs), run on small made-up trees:
 * they must pass a layered tree and fail each kind of violation.
 */
async function cruise(files: Record<string, string>): Promise<{ exitCode: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), "harness-import-rules-"));
  const tsconfig = {
    compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext", allowImportingTsExtensions: true, noEmit: true },
  };
  await writeFile(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  const depcruise = join(PROJECT_ROOT, "node_modules", "dependency-cruiser", "bin", "dependency-cruise.mjs");
  const result = await execa(
    "node",
    [depcruise, "--config", join(PROJECT_ROOT, ".dependency-cruiser.cjs"), "--output-type", "err", "harness", "bin"],
    {
      cwd: dir,
      reject: false,
    },
  );
  return { exitCode: result.exitCode ?? -1, output: `${result.stdout}\n${result.stderr}` };
}

const layered = {
  "harness/util/errors.ts": "export const E = 1;\n",
  "harness/dataset/load.ts": 'import { E } from "../util/errors.ts";\nexport const load = () => E;\n',
  "harness/eval/run.ts": 'import { load } from "../dataset/load.ts";\nexport const run = () => load();\n',
  "harness/commands/eval.ts": 'import { run } from "../eval/run.ts";\nexport const evalCommand = run;\n',
  "harness/cli.ts": 'import { evalCommand } from "./commands/eval.ts";\nevalCommand();\n',
  "bin/harness-dev.js": 'await import("../harness/cli.ts");\n',
};

describe("import rules (dependency-cruiser)", () => {
  it("pass a layered tree: util <- dataset <- eval <- commands <- cli.ts <- bin/", async () => {
    const { exitCode, output } = await cruise(layered);
    expect(output).not.toMatch(/error/);
    expect(exitCode).toBe(0);
  });

  it("fail an import cycle between two folders, even through a type-only import", async () => {
    const { exitCode, output } = await cruise({
      ...layered,
      "harness/util/errors.ts": 'import type { load } from "../dataset/load.ts";\nexport const E = 1;\nexport type L = typeof load;\n',
    });
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/no-folder-cycles: harness\/(util|dataset)/);
  });

  it("fail a lower layer that imports a command, and a module that imports cli.ts", async () => {
    const { exitCode, output } = await cruise({
      ...layered,
      "harness/eval/help.ts": 'import { evalCommand } from "../commands/eval.ts";\nexport const h = evalCommand;\n',
      "harness/dataset/main.ts": 'import "../cli.ts";\n',
    });
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/commands-on-top: harness\/eval\/help\.ts → harness\/commands\/eval\.ts/);
    expect(output).toMatch(/nothing-imports-cli: harness\/dataset\/main\.ts → harness\/cli\.ts/);
  });

  it("fail a circle between two files of one folder (a config type in run.ts that defaults.ts imports back)", async () => {
    const { exitCode, output } = await cruise({
      ...layered,
      "harness/eval/defaults.ts": 'import type { Config } from "./run.ts";\nexport const DEFAULTS: Partial<Config> = {};\n',
      "harness/eval/run.ts":
        'import { load } from "../dataset/load.ts";\nimport { DEFAULTS } from "./defaults.ts";\nexport interface Config { n: number }\nexport const run = () => [load(), DEFAULTS];\n',
    });
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/no-file-cycles: harness\/eval\/(defaults|run)\.ts/);
  });

  it("fail a ground-floor module (util/, render/, stats/) that imports a stage", async () => {
    const { exitCode, output } = await cruise({
      ...layered,
      "harness/render/table.ts": 'import { run } from "../eval/run.ts";\nexport const table = run;\n',
    });
    expect(exitCode).not.toBe(0);
    expect(output).toMatch(/ground-floor: harness\/render\/table\.ts → harness\/eval\/run\.ts/);
  });
});

describe("function length (biome, harness/ only)", () => {
  async function lint(lines: number): Promise<{ exitCode: number; output: string }> {
    const dir = await mkdtemp(join(tmpdir(), "harness-fn-length-"));
    await writeFile(join(dir, "biome.json"), await readFile(join(PROJECT_ROOT, "biome.json"), "utf8"));
    const body = Array.from({ length: lines - 2 }, (_, i) => `  total += ${i};`).join("\n");
    await mkdir(join(dir, "harness"), { recursive: true });
    await writeFile(join(dir, "harness", "long.ts"), `export function long(total: number): number {\n${body}\n  return total;\n}\n`);
    const biome = join(PROJECT_ROOT, "node_modules", "@biomejs", "biome", "bin", "biome");
    const result = await execa("node", [biome, "lint", "--vcs-enabled=false", "harness"], { cwd: dir, reject: false });
    return { exitCode: result.exitCode ?? -1, output: `${result.stdout}\n${result.stderr}` };
  }

  it("passes a function of 80 lines and fails one of 81", async () => {
    expect((await lint(80)).exitCode).toBe(0);
    const over = await lint(81);
    expect(over.exitCode).not.toBe(0);
    expect(over.output).toMatch(/noExcessiveLinesPerFunction/);
  });
});

describe("test layout", () => {
  const unitDir = join(PROJECT_ROOT, "test", "unit");

  it("unit tests sit in a folder named after the harness/ folder they test (cross-cutting ones at the top)", async () => {
    const harnessFolders = new Set(
      (await readdir(join(PROJECT_ROOT, "harness"), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name),
    );
    const unitFolders = (await readdir(unitDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(unitFolders.filter((name) => !harnessFolders.has(name))).toEqual([]);
  });

  it("every test file writes its cases one way: it(), never test()", async () => {
    const offenders: string[] = [];
    const testDir = join(PROJECT_ROOT, "test");
    for (const path of (await readdir(testDir, { recursive: true })).filter((p) => p.endsWith(".test.ts"))) {
      const text = await readFile(join(testDir, path), "utf8");
      if (/^\s*test(\.\w+)*\(/m.test(text)) offenders.push(path);
    }
    expect(offenders).toEqual([]);
  });
});
