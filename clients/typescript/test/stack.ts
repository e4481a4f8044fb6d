// What the tests share: the local stack's origin and signed-in people (development tokens).
import { createLecternClient, type LecternClient } from "@lectern/client";

const origin = process.env.LECTERN_API_ORIGIN;
if (!origin) throw new Error("LECTERN_API_ORIGIN is not set: run these tests through tests/e2e/test_typescript_client.py");
export const API_ORIGIN: string = origin;

export interface Person {
  userId: string;
  name: string;
  api: LecternClient;
}

let people = 0;

export async function signIn(role: "student" | "tutor" | "admin"): Promise<Person> {
  const name = `${role}-ts-${++people}-${Date.now().toString(36)}`;
  const anonymous = createLecternClient({ baseUrl: API_ORIGIN });
  const { data } = await anonymous.POST("/api/dev/token", { body: { name, roles: [role] } });
  return { userId: data!.userId, name, api: createLecternClient({ baseUrl: API_ORIGIN, token: data!.token }) };
}

/** A published course of `tutor` with one video lesson, `students` enrolled, and a started class. */
export async function runningClass(tutor: Person, students: Person[]): Promise<{ courseId: string; classId: string }> {
  const { data: course } = await tutor.api.POST("/api/courses", { body: { title: "Live course" } });
  const { data: video } = await tutor.api.POST("/api/videos", { body: { title: "Welcome", durationSeconds: 600 } });
  await tutor.api.POST("/api/courses/{courseId}/lessons", {
    params: { path: { courseId: course!.id } },
    body: { title: "Welcome", kind: "video", videoAssetId: video!.id, durationSeconds: 600 },
  });
  await tutor.api.PATCH("/api/courses/{courseId}", { params: { path: { courseId: course!.id } }, body: { published: true } });
  for (const student of students) {
    await student.api.POST("/api/courses/{courseId}/enrollments", { params: { path: { courseId: course!.id } }, body: {} });
  }
  const { data: klass } = await tutor.api.POST("/api/classes", {
    body: { courseId: course!.id, title: "Typed class", scheduledAt: new Date().toISOString() },
  });
  await tutor.api.POST("/api/classes/{classId}/start", { params: { path: { classId: klass!.id } } });
  return { courseId: course!.id, classId: klass!.id };
}
