// Import rules `npm run lint` enforces (dependency-cruiser). The pipeline reads bottom-up:
// util, benchmark, prompts, backends, ... up to commands/ (one file per command) and cli.ts.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-file-cycles",
      severity: "error",
      comment:
        "Two files under harness/ import each other, directly or around a circle (type-only imports count): put the shared part (a config type beside its defaults) in a file both can import.",
      from: { path: "^harness/" },
      to: { path: "^harness/", circular: true },
    },
    {
      name: "ground-floor",
      severity: "error",
      comment:
        "util/, render/ and stats/ are the ground floor (generic helpers, renderers, maths): they import nothing above them, so every stage can use them without climbing into another.",
      from: { path: "^harness/(util|render|stats)/" },
      to: { path: "^harness/", pathNot: "^harness/(util|render|stats)/" },
    },
    {
      name: "no-folder-cycles",
      severity: "error",
      comment: "Two folders under harness/ import each other (type-only imports count): move the shared part down a layer.",
      scope: "folder",
      from: { path: "^harness/" },
      to: { path: "^harness/", circular: true },
    },
    {
      name: "commands-on-top",
      severity: "error",
      comment: "Only cli.ts and other commands import harness/commands/: a lower layer takes its inputs as arguments, not flags.",
      from: { path: "^harness/", pathNot: "^harness/(cli\\.ts$|commands/)" },
      to: { path: "^harness/commands/" },
    },
    {
      name: "nothing-imports-cli",
      severity: "error",
      comment: "harness/cli.ts runs the CLI when loaded; only the launchers in bin/ import it.",
      from: { pathNot: "^bin/" },
      to: { path: "^harness/cli\\.ts$" },
    },
    {
      name: "no-unresolvable",
      severity: "error",
      comment: "An import that resolves to nothing (a typo, a missing dependency).",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
