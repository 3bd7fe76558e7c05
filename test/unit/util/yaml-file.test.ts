import { describe, expect, it } from "vitest";
import { YAML_LIMITS, yamlNestingProblem } from "../../../harness/util/yaml-file.ts";

describe("a YAML config's nesting, checked before the parser recurses into it", () => {
  it("names the line and column where brackets or indentation go past the limit", () => {
    const deep = YAML_LIMITS.flowDepth + 1;
    expect(yamlNestingProblem(`a: 1\nb: ${"[".repeat(deep)}${"]".repeat(deep)}\n`)).toEqual({
      line: 2,
      column: 4 + YAML_LIMITS.flowDepth,
      problem: `brackets nested ${deep} deep (at most ${YAML_LIMITS.flowDepth})`,
    });
    expect(yamlNestingProblem(`a: ${"{b: ".repeat(deep)}1${"}".repeat(deep)}`)?.problem).toContain("brackets nested");
    expect(yamlNestingProblem(`a:\n${" ".repeat(YAML_LIMITS.indentColumns + 1)}b: 1\n`)).toMatchObject({ line: 2, column: 1 });
  });

  it("leaves brackets in quoted scalars and comments alone, and takes an apostrophe in a word for a word", () => {
    const many = "[".repeat(YAML_LIMITS.flowDepth * 3);
    expect(yamlNestingProblem(`a: "${many} \\" ${many}"\nb: '${many} it''s ${many}'\nc: 1 # ${many}\nd: [1, [2]]\n`)).toBeNull();
    // An apostrophe inside a plain word opens no quote, so brackets after it still count.
    expect(yamlNestingProblem(`a: it's ${many}\n`)?.problem).toContain("brackets nested");
    expect(yamlNestingProblem(`a: ${"[".repeat(YAML_LIMITS.flowDepth)}${"]".repeat(YAML_LIMITS.flowDepth)}\n`)).toBeNull();
  });
});
