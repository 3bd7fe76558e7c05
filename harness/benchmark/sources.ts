/** The benchmark's repository, pinned: the same commit the spec's prompts were checked against. */
export const INTENTIONQA_REPO = "HKUST-KnowComp/IntentionQA";
export const INTENTIONQA_COMMIT = "2b647b4ddc3c79c2f2ff0435ea40add4eb2c2486";
export const INTENTIONQA_RAW_BASE = `https://raw.githubusercontent.com/${INTENTIONQA_REPO}/${INTENTIONQA_COMMIT}/`;
