// The HTTP client against the running local stack (LECTERN_API_ORIGIN), plus its retry rules
// with a scripted fetch (what the server would answer under load is hard to provoke on cue).
import assert from "node:assert/strict";
import { test } from "node:test";

import { createLecternClient, LecternProblem } from "@lectern/client";

import { API_ORIGIN, signIn } from "./stack.js";

test("a signed-in tutor creates a course; the generated types carry the response", { timeout: 60_000 }, async () => {
  const tutor = await signIn("tutor");
  const { data } = await tutor.api.POST("/api/courses", { body: { title: "Typed course" } });
  assert.equal(data!.title, "Typed course");
  assert.equal(data!.ownerId, tutor.userId);
  const page = await tutor.api.GET("/api/courses", { params: { query: { limit: 1 } } });
  assert.ok(page.data!.nextCursor === null || typeof page.data!.nextCursor === "string");
});

test("an error answer throws a typed problem", { timeout: 60_000 }, async () => {
  const student = await signIn("student");
  await assert.rejects(
    student.api.POST("/api/courses", { body: { title: "Not mine to make" } }),
    (error: unknown) => {
      assert.ok(error instanceof LecternProblem);
      assert.equal(error.status, 403);
      assert.ok(error.is("forbidden"));
      assert.equal(error.type, "https://lectern.dev/problems/forbidden");
      return true;
    },
  );
  const anonymous = createLecternClient({ baseUrl: API_ORIGIN });
  await assert.rejects(anonymous.GET("/api/me/dashboard"), (e: unknown) => e instanceof LecternProblem && e.is("unauthorized"));
});

test("a retryable write carries an Idempotency-Key, the same one on every attempt, and waits Retry-After", { timeout: 60_000 }, async () => {
  const seen: { key: string | null; at: number }[] = [];
  const scripted = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    seen.push({ key: request.headers.get("Idempotency-Key"), at: Date.now() });
    if (seen.length < 3) {
      return new Response(JSON.stringify({ type: "https://lectern.dev/problems/service-unavailable", title: "Down", status: 503 }), {
        status: 503,
        headers: { "Content-Type": "application/problem+json", "Retry-After": "1" },
      });
    }
    return new Response(JSON.stringify({ id: "x" }), { status: 201, headers: { "Content-Type": "application/json" } });
  };
  const api = createLecternClient({ baseUrl: "http://lectern.invalid", token: "t", fetch: scripted });
  const { response } = await api.POST("/api/quizzes/{quizId}/attempts", {
    params: { path: { quizId: "6a1f0c52-8d3e-4b0a-9c71-5e2d4f8a1b33" } },
    body: { answers: [[0]] },
  });
  assert.equal(response.status, 201);
  assert.equal(seen.length, 3);
  assert.ok(seen[0]!.key && seen.every((s) => s.key === seen[0]!.key));
  assert.ok(seen[1]!.at - seen[0]!.at >= 900, "waited the Retry-After second");
});

test("a write without an Idempotency-Key is not repeated after a 503", { timeout: 60_000 }, async () => {
  let calls = 0;
  const scripted = async () => {
    calls++;
    return new Response(JSON.stringify({ type: "https://lectern.dev/problems/service-unavailable", title: "Down", status: 503 }), {
      status: 503,
      headers: { "Content-Type": "application/problem+json", "Retry-After": "0" },
    });
  };
  const api = createLecternClient({ baseUrl: "http://lectern.invalid", token: "t", fetch: scripted });
  await assert.rejects(
    api.POST("/api/classes/{classId}/start", { params: { path: { classId: "6a1f0c52-8d3e-4b0a-9c71-5e2d4f8a1b33" } } }),
    (e: unknown) => e instanceof LecternProblem && e.status === 503 && e.retryAfter === 0,
  );
  assert.equal(calls, 1);
});

test("a 429 is retried for any request after Retry-After", { timeout: 60_000 }, async () => {
  let calls = 0;
  const scripted = async () => {
    calls++;
    if (calls === 1) {
      return new Response(JSON.stringify({ type: "https://lectern.dev/problems/rate-limited", title: "Slow down", status: 429 }), {
        status: 429,
        headers: { "Content-Type": "application/problem+json", "Retry-After": "0" },
      });
    }
    return new Response(null, { status: 200 });
  };
  const api = createLecternClient({ baseUrl: "http://lectern.invalid", token: "t", fetch: scripted });
  const { response } = await api.POST("/api/classes/{classId}/start", {
    params: { path: { classId: "6a1f0c52-8d3e-4b0a-9c71-5e2d4f8a1b33" } },
  });
  assert.equal(response.status, 200);
  assert.equal(calls, 2);
});
