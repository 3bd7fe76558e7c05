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

  it("reads brackets as YAML does: in quoted and block scalars and comments they are text, after them they count", () => {
    const many = "[".repeat(YAML_LIMITS.flowDepth * 3);
    const deep = `${many}${"]".repeat(YAML_LIMITS.flowDepth * 3)}`;
    expect(
      yamlNestingProblem(`a: "${many} \\" ${many}"\nb: '${many} it''s ${many}'\nc: 1 # ${many}\nd: |\n  ${many}\ne: it's ${many}\n`),
    ).toBeNull();
    // A quote inside a plain word, or at the start of a block scalar's line, opens nothing: the
    // brackets after it are still YAML's (a hand-written quote tracker once missed both).
    expect(yamlNestingProblem(`a: b "x\nc: ${deep}\n`)).toMatchObject({ line: 2, column: 4 + YAML_LIMITS.flowDepth });
    expect(yamlNestingProblem(`a: |\n  "x\nb: ${deep}\n`)).toMatchObject({ line: 3 });
    expect(yamlNestingProblem(`a: ["x #", ${deep}]\n`)?.problem).toContain("brackets nested");
    expect(yamlNestingProblem(`a: ${"[".repeat(YAML_LIMITS.flowDepth)}${"]".repeat(YAML_LIMITS.flowDepth)}\n`)).toBeNull();
  });
});
