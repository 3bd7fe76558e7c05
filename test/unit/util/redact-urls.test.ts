import { describe, expect, it } from "vitest";
import { publicUrl, redact, registerUrlSecrets } from "../../../harness/util/redact.ts";

describe("URL credentials are secrets in every form a URL parser accepts", () => {
  it("a password holding '@' is hidden whole, up to the host", () => {
    expect(publicUrl("http://user:pass@word-long@host:8000/v1")).toBe("http://user:[REDACTED]@host:8000/v1");
    expect(new URL("http://user:pass@word-long@host:8000/v1").host).toBe("host:8000");
  });

  it("a token holding '@' is hidden whole", () => {
    expect(publicUrl("https://tok@en-secret@host/v1")).toBe("https://[REDACTED]@host/v1");
  });

  it("a key in the query string or fragment is hidden, other parameters kept", () => {
    expect(publicUrl("http://h/v1?api-version=2024-01&api_key=sk-abcdef123#access_token=zzzzzz")).toBe(
      "http://h/v1?api-version=2024-01&api_key=[REDACTED]#access_token=[REDACTED]",
    );
    expect(publicUrl("http://h/v1?model=m&key=abc123456&sig=xyz987654")).toBe("http://h/v1?model=m&key=[REDACTED]&sig=[REDACTED]");
  });

  it("a key given in a URL's query is registered, so it is redacted where it shows up alone", () => {
    registerUrlSecrets(["http://h/v1?token=tok-registered-1", "http://u:p%40ss-registered-2@h/"]);
    expect(redact("echo: tok-registered-1 and p@ss-registered-2")).toBe("echo: [REDACTED] and [REDACTED]");
  });
});
