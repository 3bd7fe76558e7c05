import type { CommandModule } from "yargs";
export const analyzeCommand: CommandModule = { command: "analyze", describe: "(in progress)", handler: () => undefined };
