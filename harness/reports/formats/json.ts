import type { BuiltTables } from "../tables.ts";

export const TABLES_SCHEMA_ID = "intentionqa-harness/tables@1";

/** The table models as JSON: numbers exactly as stored in the reports; a missing split has no "value". */
export function renderJson(built: BuiltTables): string {
  return `${JSON.stringify({ schema: TABLES_SCHEMA_ID, tables: built.tables, warnings: built.warnings }, null, 2)}\n`;
}
