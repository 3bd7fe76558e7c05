import { parseArgs } from "node:util";

/** One measured ratio and its goal: "max" fails above goal + tolerance, "min" below goal - tolerance. */
export interface Gate {
  label: string;
  value: number;
  goal: number;
  kind: "max" | "min";
  /** This gate's own slack (0 for a count that must be exact); the run's --tolerance otherwise. */
  tolerance?: number;
}

export interface BenchOptions {
  /** Interleaved rounds; the gates read the median of their ratios. */
  rounds: number;
  /** Slack on every ratio goal, in ratio units: timings on a shared machine move by a few percent. */
  tolerance: number;
}

/** --rounds N and --tolerance T (0.05 unless given); --help prints them; a bad value exits 2. */
export function benchOptions(name: string, defaults: { rounds: number; tolerance?: number }): BenchOptions {
  const usage = `usage: npx tsx bench/${name}.ts [--rounds N (default ${defaults.rounds})] [--tolerance T (default ${defaults.tolerance ?? 0.05}: slack on each ratio goal)]`;
  let values: { rounds?: string; tolerance?: string; help?: boolean };
  try {
    values = parseArgs({
      options: { rounds: { type: "string" }, tolerance: { type: "string" }, help: { type: "boolean" } },
    }).values;
  } catch (error) {
    process.stderr.write(`bench/${name}: ${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const rounds = Number(values.rounds ?? defaults.rounds);
  const tolerance = Number(values.tolerance ?? defaults.tolerance ?? 0.05);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isFinite(tolerance) || tolerance < 0) {
    process.stderr.write(`bench/${name}: --rounds must be a whole number of at least 1 and --tolerance a number of at least 0\n${usage}\n`);
    process.exit(2);
  }
  return { rounds, tolerance };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Prints each gate with its goal and verdict; returns the exit code (1 when any gate fails). */
export function checkGates(gates: readonly Gate[], tolerance: number, line: (label: string, value: string) => void): number {
  let failed = 0;
  for (const gate of gates) {
    const slack = gate.tolerance ?? tolerance;
    const ok = gate.kind === "max" ? gate.value <= gate.goal + slack : gate.value >= gate.goal - slack;
    const goal = `goal ${gate.kind === "max" ? "<=" : ">="} ${gate.goal}${slack > 0 ? `, tolerance ${slack}` : ""}`;
    const shown = Number.isInteger(gate.value) ? String(gate.value) : `${gate.value.toFixed(3)}x`;
    line(gate.label, `${shown} (${goal}): ${ok ? "ok" : "MISSED"}`);
    if (!ok) failed += 1;
  }
  if (failed > 0) process.stderr.write(`${failed} of ${gates.length} goal(s) missed beyond the tolerance\n`);
  return failed > 0 ? 1 : 0;
}
