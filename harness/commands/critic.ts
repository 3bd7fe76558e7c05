import type { CommandModule } from "yargs";
export const criticCommand: CommandModule = { command: "critic", describe: "(in progress)", handler: () => undefined };
