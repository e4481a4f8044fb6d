// A real class through the live client: a tutor and two students join over the local Web
// PubSub service, vote, chat, and one of them reconnects without losing anything.
import assert from "node:assert/strict";
import { after, test } from "node:test";

import { joinClass, type LiveClass } from "@lectern/client/live";

import { runningClass, signIn } from "./stack.js";

const open: LiveClass[] = [];
after(async () => {
  await Promise.allSettled(open.map((live) => live.stop()));
});

async function join(...args: Parameters<typeof joinClass>): Promise<LiveClass> {
  const live = await joinClass(...args);
  open.push(live);
  return live;
}

test("students join, vote on the tutor's poll and chat, with typed events", { timeout: 60_000 }, async () => {
  const tutor = await signIn("tutor");
  const [ada, ben] = [await signIn("student"), await signIn("student")];
  const { classId } = await runningClass(tutor, [ada, ben]);

  const tutorLive = await join(tutor.api, classId);
  const adaLive = await join(ada.api, classId);
  const benLive = await join(ben.api, classId);
  assert.equal(adaLive.state!.status, "live");

  const opened = adaLive.next("poll.opened");
  const { data: poll } = await tutor.api.POST("/api/classes/{classId}/polls", {
    params: { path: { classId } },
    body: { question: "Ready?", options: ["yes", "no"] },
  });
  assert.equal((await opened).poll.question, "Ready?");

  const tally = tutorLive.next("poll.tally", (m) => m.total === 2);
  const votes = await Promise.all([
    adaLive.send("vote", { pollId: poll!.id, option: 0 }),
    benLive.send("vote", { pollId: poll!.id, option: 1 }),
  ]);
  assert.deepEqual(votes.map((v) => v.ok), [true, true]);
  assert.deepEqual((await tally).counts, [1, 1]);

  const refused = await adaLive.send("vote", { pollId: poll!.id, option: 7 });
  assert.equal(refused.ok, false);
  assert.equal(refused.reason, "invalid-option");

  const heard = benLive.next("chat.message", (m) => m.text === "hello from Ada");
  const ack = await adaLive.send("chat", { text: "hello from Ada" });
  assert.ok(ack.ok && ack.messageId);
  const message = await heard;
  assert.equal(message.userId, ada.userId);
  assert.equal(message.id, ack.messageId);

  const closed = benLive.next("poll.closed");
  await tutor.api.POST("/api/classes/{classId}/polls/{pollId}/close", { params: { path: { classId, pollId: poll!.id } } });
  assert.deepEqual((await closed).counts, [1, 1]);
  assert.equal(adaLive.gaps + benLive.gaps, 0);
});

test("a student who reconnects loses nothing: the snapshot has what was said while away", { timeout: 60_000 }, async () => {
  const tutor = await signIn("tutor");
  const [ada, ben] = [await signIn("student"), await signIn("student")];
  const { classId } = await runningClass(tutor, [ada, ben]);
  const adaLive = await join(ada.api, classId);
  const benLive = await join(ben.api, classId);

  await benLive.stop();
  const whileAway = ["first while Ben was away", "second while Ben was away"];
  for (const text of whileAway) assert.ok((await adaLive.send("chat", { text })).ok);

  const benAgain = await join(ben.api, classId);
  const recent = benAgain.state!.recentChat.map((m) => m.text);
  for (const text of whileAway) assert.ok(recent.includes(text), `${text} is in the snapshot`);
  assert.ok(benAgain.seq >= adaLive.seq);

  // And it goes on from the snapshot's seq: the next message is applied, not seen as a gap.
  const next = benAgain.next("chat.message", (m) => m.text === "welcome back");
  assert.ok((await adaLive.send("chat", { text: "welcome back" })).ok);
  const message = await next;
  assert.equal(message.seq, benAgain.seq);
  assert.equal(benAgain.gaps, 0);
});

test("a dropped socket resumes the same connection and loses nothing", { timeout: 60_000 }, async () => {
  const tutor = await signIn("tutor");
  const [ada, ben] = [await signIn("student"), await signIn("student")];
  const { classId } = await runningClass(tutor, [ada, ben]);
  const adaLive = await join(ada.api, classId);
  const benLive = await join(ben.api, classId);
  const connections: { connectionId: string; resumed: boolean }[] = [];
  benLive.on("connected", (c) => connections.push(c));

  const texts = ["one", "two", "three"];
  const heard = texts.map((text) => benLive.next("chat.message", (m) => m.text === text, 30_000));
  // The network drops Ben's socket (not a close by the service): the reliable protocol
  // reconnects to the same connection and the service replays what it had not acknowledged.
  type Transport = { _wsClient: { _socket: { terminate(): void } } };
  const transport = benLive.transport as unknown as Transport;
  const dropped = transport._wsClient;
  dropped._socket.terminate();
  for (const text of texts) assert.ok((await adaLive.send("chat", { text })).ok);
  const messages = await Promise.all(heard);
  assert.deepEqual(messages.map((m) => m.text), texts);
  assert.equal(benLive.gaps, 0);
  assert.notEqual(transport._wsClient, dropped, "a new socket carried the rest");
  assert.ok(connections.every((c) => c.resumed), "no new connection was needed");
});

test("a gap in seq is healed from the state snapshot", { timeout: 60_000 }, async () => {
  const tutor = await signIn("tutor");
  const ada = await signIn("student");
  const { classId } = await runningClass(tutor, [ada]);
  const adaLive = await join(ada.api, classId);

  // Pretend the last applied message was older than it is: the next one looks like a jump.
  const healed = new Promise<number>((resolve) => adaLive.on("state", (s) => resolve(s.seq)));
  const gap = new Promise<{ from: number; to: number }>((resolve) => adaLive.on("gap", resolve));
  const warm = adaLive.next("chat.message", (m) => m.text === "warming up");
  assert.ok((await adaLive.send("chat", { text: "warming up" })).ok);
  await warm;
  adaLive.seq -= 1;
  const before = adaLive.seq;
  assert.ok((await adaLive.send("chat", { text: "after a gap" })).ok);
  const seen = await gap;
  assert.equal(seen.from, before);
  assert.ok((await healed) >= seen.to);
  assert.ok(adaLive.state!.recentChat.some((m) => m.text === "after a gap"));
});
