/**
 * The live-class page's script, on the typed client the frontends use (`@lectern/client`):
 * HTTP through `createLecternClient` (bearer token, Idempotency-Key, Retry-After, problem+json
 * errors) and the class through `joinClass` (negotiate, reliable connection, seq and gap
 * healing). esbuild bundles it into shared_code/static/build/live.js (`npm run build`), which
 * the app serves at /api/live/app.js, so the page runs under `script-src 'self'` with no
 * inline script.
 */
import { createLecternClient, LecternProblem } from "@lectern/client";
import { joinClass, type ClassState, type LiveClass, type ServerMessages } from "@lectern/client/live";

// The people `python -m shared_code.seed` makes (fixed ids, so their courses are theirs again).
const DEMO_PEOPLE = [
  { key: "tutor", userId: "6f1c2b1e-6c1f-4f8e-9a44-0a0000000001", name: "Tess Tutor", role: "tutor" },
  { key: "student1", userId: "6f1c2b1e-6c1f-4f8e-9a44-0a0000000002", name: "Sam Student", role: "student" },
  { key: "student2", userId: "6f1c2b1e-6c1f-4f8e-9a44-0a0000000003", name: "Sara Student", role: "student" },
] as const;
const EMOJI = ["👍", "👏", "❤️", "😂", "😮", "🎉", "🤔", "🙌"];

type Poll = NonNullable<ClassState["openPoll"]> | ServerMessages["poll.opened"]["poll"];
type ChatLine = { id: string; userName: string; text: string; seq: number };

const state = {
  token: undefined as string | undefined,
  userId: "",
  role: "student",
  name: "",
  classId: "",
  live: undefined as LiveClass | undefined,
  status: "" as string,
  presence: 0,
  poll: undefined as (Poll & { counts: number[]; total?: number; status: string }) | undefined,
  myVote: undefined as number | undefined,
  hands: [] as { userId: string; name?: string | null }[],
  chat: [] as ChatLine[],
  share: undefined as { streamUrl: string } | undefined,
  uploaded: undefined as string | undefined,
};

// Same origin as the page: the API is under /api beside it.
const api = createLecternClient({ baseUrl: location.origin, token: () => state.token, retries: 2 });

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const why = (err: unknown) => (err instanceof LecternProblem ? err.detail ?? err.title : String((err as Error).message ?? err));

function toast(text: string) {
  $("toast").textContent = text;
}
function logEvent(text: string) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("events").prepend(li);
  while ($("events").children.length > 60) $("events").lastChild!.remove();
}

// --- rendering ------------------------------------------------------------------------
function renderStatus() {
  const pill = $("status");
  pill.textContent = state.status || "not joined";
  pill.className = `pill ${state.status}`;
  $("seq").textContent = `seq ${state.live?.seq || "–"}`;
  $("presence").textContent = String(state.presence);
}
function renderPoll() {
  const box = $("poll");
  box.textContent = "";
  const poll = state.poll;
  if (!poll) {
    box.textContent = "No poll open.";
    return;
  }
  const title = document.createElement("div");
  title.id = "poll-title";
  const question = document.createElement("b");
  question.textContent = poll.question;
  const pill = document.createElement("span");
  pill.className = "pill";
  pill.id = "poll-status";
  pill.textContent = `${poll.status} · ${poll.total ?? 0} votes`;
  title.append(question, " ", pill);
  box.appendChild(title);
  const total = Math.max(1, poll.total ?? 0);
  poll.options.forEach((label, i) => {
    const row = document.createElement("div");
    row.className = `option${state.myVote === i ? " mine" : ""}`;
    row.dataset.option = String(i);
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    fill.className = "fill";
    fill.style.width = `${(100 * (poll.counts[i] ?? 0)) / total}%`;
    const text = document.createElement("span");
    text.className = "label";
    text.textContent = label;
    bar.append(fill, text);
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = String(poll.counts[i] ?? 0);
    row.append(bar, count);
    if (state.role !== "tutor" && poll.status === "open") {
      const vote = document.createElement("button");
      vote.className = "vote";
      vote.textContent = "Vote";
      vote.dataset.option = String(i);
      vote.onclick = async () => {
        const ack = await send("vote", { pollId: poll.id, option: i });
        if (ack?.ok) {
          state.myVote = i;
          renderPoll();
        }
      };
      row.appendChild(vote);
    }
    box.appendChild(row);
  });
}
function renderHands() {
  const list = $("hands");
  list.textContent = "";
  for (const hand of state.hands) {
    const li = document.createElement("li");
    li.textContent = `✋ ${hand.name || hand.userId} `;
    li.dataset.userId = hand.userId;
    if (state.role === "tutor") {
      const lower = document.createElement("button");
      lower.className = "secondary";
      lower.textContent = "lower";
      lower.onclick = () => void send("lowerHand", { userId: hand.userId });
      li.appendChild(lower);
    }
    list.appendChild(li);
  }
}
function renderChat() {
  const log = $("chat-log");
  log.textContent = "";
  for (const m of state.chat) {
    const div = document.createElement("div");
    div.className = "msg";
    div.dataset.id = m.id;
    const who = document.createElement("b");
    who.textContent = `${m.userName}: `;
    const text = document.createElement("span");
    text.className = "text";
    text.textContent = m.text;
    const seq = document.createElement("span");
    seq.className = "seq";
    seq.textContent = ` #${m.seq}`;
    div.append(who, text, seq);
    if (state.role === "tutor") {
      const del = document.createElement("a");
      del.href = "#";
      del.textContent = " delete";
      del.onclick = (e) => {
        e.preventDefault();
        api
          .POST("/api/classes/{classId}/moderation", {
            params: { path: { classId: state.classId } },
            body: { action: "deleteMessage", messageId: m.id },
          })
          .catch((err) => toast(why(err)));
      };
      div.appendChild(del);
    }
    log.appendChild(div);
  }
  log.scrollTop = log.scrollHeight;
}
function renderShare() {
  const box = $("screen-share");
  box.textContent = "";
  if (!state.share) {
    box.textContent = "No screen share.";
    return;
  }
  const a = document.createElement("a");
  a.href = state.share.streamUrl;
  a.textContent = `Tutor is sharing: ${state.share.streamUrl}`;
  a.target = "_blank";
  a.rel = "noopener";
  box.appendChild(a);
}
function renderAll() {
  renderStatus();
  renderPoll();
  renderHands();
  renderChat();
  renderShare();
}

// --- the class, through the live client -------------------------------------------------
function applySnapshot(s: ClassState) {
  state.status = s.status;
  state.presence = s.presenceCount;
  if (s.openPoll) {
    state.poll = { ...s.openPoll, status: "open" } as typeof state.poll;
    const mine = (s.openPoll as { myVote?: number | null }).myVote;
    if (mine !== undefined && mine !== null) state.myVote = mine;
  } else if (state.poll?.status !== "closed") {
    state.poll = undefined;
  }
  state.hands = s.raisedHands.map((h) => ({ userId: h.userId, name: h.name }));
  state.chat = (s.recentChat as ChatLine[]).slice().reverse();
  state.share = s.screenShare ? { streamUrl: s.screenShare.streamUrl } : undefined;
  renderAll();
}

function listen(live: LiveClass) {
  live.on("state", (s) => {
    applySnapshot(s);
    logEvent("state loaded");
  });
  live.on("gap", (g) => logEvent(`missed ${g.from + 1}…${g.to - 1}, reloading the state`));
  live.on("connected", (c) => logEvent(c.resumed ? "reconnected" : "connected"));
  live.on("disconnected", (d) => logEvent(`disconnected ${d.message ?? ""}`));
  live.on("stopped", () => {
    if (state.live === live) {
      state.live = undefined;
      if (state.status !== "ended") state.status = "left";
      renderStatus();
    }
  });
  live.on("class.started", () => {
    state.status = "live";
    logEvent("class started");
  });
  live.on("class.ended", () => {
    state.status = "ended";
    if (state.poll) state.poll.status = "closed";
    state.hands = [];
    logEvent("class ended");
    renderAll();
    void live.stop();
  });
  live.on("presence.updated", (m) => {
    state.presence = m.count;
  });
  live.on("chat.message", (m) => {
    state.chat.push(m as unknown as ChatLine);
    if (state.chat.length > 200) state.chat.shift();
    renderChat();
  });
  live.on("chat.deleted", (m) => {
    state.chat = state.chat.filter((c) => c.id !== m.messageId);
    renderChat();
  });
  live.on("poll.opened", (m) => {
    state.poll = { ...m.poll, status: "open" } as typeof state.poll;
    state.myVote = undefined;
    logEvent("poll opened");
    renderPoll();
  });
  live.on("poll.tally", (m) => {
    if (state.poll && state.poll.id === m.pollId) {
      state.poll.counts = m.counts;
      state.poll.total = m.total;
      renderPoll();
    }
  });
  live.on("poll.closed", (m) => {
    if (state.poll && state.poll.id === m.pollId) {
      state.poll.counts = m.counts;
      state.poll.total = m.total;
      state.poll.status = "closed";
    }
    logEvent(`poll closed: ${m.counts.join(" / ")}`);
    renderPoll();
  });
  live.on("hand.raised", (m) => {
    if (!state.hands.some((h) => h.userId === m.userId)) state.hands.push({ userId: m.userId, name: m.name });
    renderHands();
  });
  live.on("hand.lowered", (m) => {
    state.hands = m.all ? [] : state.hands.filter((h) => h.userId !== m.userId);
    renderHands();
  });
  live.on("reaction", (m) => {
    $("reaction-burst").textContent = Object.entries(m.counts)
      .map(([e, n]) => `${e}×${n}`)
      .join("  ");
  });
  live.on("screenShare.started", (m) => {
    state.share = { streamUrl: m.streamUrl };
    renderShare();
  });
  live.on("screenShare.stopped", () => {
    state.share = undefined;
    renderShare();
  });
  live.on("moderation.muted", (m) => {
    if (m.userId === state.userId) toast(m.muted ? "The tutor muted you." : "You may chat again.");
  });
  live.on("moderation.removed", (m) => {
    if (m.userId === state.userId) toast("You were removed from the class.");
  });
  live.on("material.published", (m) => {
    logEvent(`material published: ${m.fileName}`);
  });
  // Every applied message moves seq; the pill follows.
  for (const type of ["presence.updated", "chat.message", "poll.tally", "class.started"] as const) {
    live.on(type, () => renderStatus());
  }
}

async function send(event: string, data: Record<string, unknown>) {
  if (!state.live) {
    toast("Join a class first.");
    return undefined;
  }
  try {
    const ack = await state.live.send(event as never, data as never);
    toast(ack.ok ? "" : `${event} refused: ${ack.detail ?? ack.reason}`);
    return ack;
  } catch (err) {
    toast(why(err));
    return undefined;
  }
}

async function join() {
  state.classId = input("class-id").value.trim() || $<HTMLSelectElement>("class-list").value;
  if (!state.token || !state.classId) {
    toast("Sign in and pick a class first.");
    return;
  }
  if (state.live) await state.live.stop();
  toast("");
  try {
    const live = await joinClass(api, state.classId);
    state.live = live;
    listen(live);
    if (live.state) applySnapshot(live.state);
  } catch (err) {
    toast(`Cannot join: ${why(err)}`);
  }
}

// --- identity ---------------------------------------------------------------------------
async function signIn(body: { userId?: string; name: string; roles: ("student" | "tutor")[] }) {
  try {
    const { data } = await api.POST("/api/dev/token", { body });
    state.token = data!.token;
    state.userId = data!.userId;
    state.role = body.roles[0];
    state.name = body.name;
    document.body.classList.toggle("tutor", state.role === "tutor");
    $("who").textContent = `${body.name} · ${state.role}`;
    $("who").dataset.userId = data!.userId;
    toast("");
    renderAll();
  } catch (err) {
    toast(`Sign-in failed: ${why(err)}`);
  }
}

// --- course, class and materials --------------------------------------------------------
const courseId = () => input("course-id").value.trim();
const classId = () => input("class-id").value.trim();

async function loadClasses() {
  if (!courseId() || !state.token) return;
  try {
    const { data } = await api.GET("/api/classes", { params: { query: { courseId: courseId() } } });
    const list = $<HTMLSelectElement>("class-list");
    list.length = 1;
    for (const c of data!.items) {
      const o = document.createElement("option");
      o.value = c.id;
      o.textContent = `${c.title} (${c.status})`;
      list.appendChild(o);
    }
  } catch {
    /* not a member yet: enrol first */
  }
}

async function uploadMaterial() {
  const file = input("material-file").files?.[0];
  if (!file || !courseId()) {
    toast("Pick a course and a file first.");
    return;
  }
  try {
    const contentType = file.type || "application/octet-stream";
    const { data: grant } = await api.POST("/api/courses/{courseId}/materials/uploads", {
      params: { path: { courseId: courseId() } },
      body: { fileName: file.name, contentType, sizeBytes: file.size },
    });
    // Straight to blob storage with the write-only SAS: the file never passes the app.
    const put = await fetch(grant!.uploadUrl, {
      method: "PUT",
      headers: { "x-ms-blob-type": "BlockBlob", "Content-Type": contentType, ...grant!.requiredHeaders },
      body: file,
    });
    if (!put.ok) throw new Error(`the upload was refused (${put.status})`);
    state.uploaded = grant!.materialId;
    input("material-id").value = grant!.materialId;
    toast(`Uploaded ${file.name}.`);
  } catch (err) {
    toast(`Upload failed: ${why(err)}`);
  }
}

async function publishMaterial() {
  const materialId = input("material-id").value.trim();
  if (!materialId) return;
  try {
    await api.POST("/api/materials/{materialId}/publish", { params: { path: { materialId } } });
    toast("Material published.");
    await listMaterials();
  } catch (err) {
    toast(`Publish failed: ${why(err)}`);
  }
}

async function listMaterials() {
  if (!courseId()) return;
  try {
    const { data } = await api.GET("/api/courses/{courseId}/materials", { params: { path: { courseId: courseId() } } });
    const list = $("materials");
    list.textContent = "";
    for (const m of data!.items) {
      const li = document.createElement("li");
      li.dataset.id = m.id;
      li.append(`${m.fileName} (${m.sizeBytes} bytes) `);
      const get = document.createElement("button");
      get.className = "secondary download";
      get.textContent = "Download";
      get.onclick = () => void download(m.id, m.fileName);
      li.appendChild(get);
      list.appendChild(li);
    }
    if (!data!.items.length) list.textContent = "No materials yet.";
  } catch (err) {
    toast(why(err));
  }
}

// A read-only SAS, fetched from blob storage by the browser; text is shown, anything is saved.
async function download(materialId: string, fileName: string) {
  try {
    const { data } = await api.GET("/api/materials/{materialId}/download", { params: { path: { materialId } } });
    const resp = await fetch(data!.url);
    if (!resp.ok) throw new Error(`the download was refused (${resp.status})`);
    const blob = await resp.blob();
    $("material-preview").textContent = blob.type.startsWith("text/") ? await blob.text() : `${blob.size} bytes`;
    const link = $<HTMLAnchorElement>("material-link");
    link.href = data!.url;
    link.download = fileName;
    link.textContent = `Save ${fileName}`;
    toast(`Downloaded ${fileName}.`);
  } catch (err) {
    toast(`Download failed: ${why(err)}`);
  }
}

function wire() {
  const people = $<HTMLSelectElement>("demo-user");
  for (const p of DEMO_PEOPLE) {
    const o = document.createElement("option");
    o.value = p.key;
    o.textContent = `${p.name} (${p.role})`;
    people.appendChild(o);
  }
  $("demo-sign-in").onclick = () => {
    const p = DEMO_PEOPLE.find((d) => d.key === people.value);
    if (p) void signIn({ userId: p.userId, name: p.name, roles: [p.role] });
  };
  $("sign-in").onclick = () =>
    void signIn({
      name: input("name").value.trim() || "Guest",
      roles: [$<HTMLSelectElement>("role").value as "student" | "tutor"],
    });
  $("create-course").onclick = async () => {
    try {
      const { data: course } = await api.POST("/api/courses", {
        body: { title: `Live course ${new Date().toLocaleTimeString()}`, description: "Made on the live page." },
      });
      await api.PATCH("/api/courses/{courseId}", { params: { path: { courseId: course!.id } }, body: { published: true } });
      input("course-id").value = course!.id;
      toast("Course created.");
    } catch (err) {
      toast(why(err));
    }
  };
  $("enrol").onclick = async () => {
    try {
      await api.POST("/api/courses/{courseId}/enrollments", { params: { path: { courseId: courseId() } }, body: {} });
      toast("Enrolled.");
      void loadClasses();
    } catch (err) {
      toast(why(err));
    }
  };
  input("course-id").onchange = () => void loadClasses();
  $<HTMLSelectElement>("class-list").onchange = () => {
    input("class-id").value = $<HTMLSelectElement>("class-list").value;
  };
  $("create-class").onclick = async () => {
    try {
      const { data } = await api.POST("/api/classes", {
        body: { courseId: courseId(), title: input("class-title").value || "Live class", scheduledAt: new Date().toISOString() },
      });
      input("class-id").value = data!.id;
      toast("Class created.");
      void loadClasses();
    } catch (err) {
      toast(why(err));
    }
  };
  $("start-class").onclick = () =>
    api
      .POST("/api/classes/{classId}/start", { params: { path: { classId: classId() } } })
      .then(() => toast("Class started."))
      .catch((err) => toast(why(err)));
  $("end-class").onclick = () =>
    api
      .POST("/api/classes/{classId}/end", { params: { path: { classId: classId() } } })
      .then(() => toast("Class ended."))
      .catch((err) => toast(why(err)));
  $("join").onclick = () => void join();
  $("open-poll").onclick = async () => {
    const options = input("poll-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
    try {
      await api.POST("/api/classes/{classId}/polls", {
        params: { path: { classId: state.classId } },
        body: { question: input("poll-question").value.trim(), options },
      });
      toast("");
    } catch (err) {
      toast(why(err));
    }
  };
  $("close-poll").onclick = async () => {
    if (!state.poll) return;
    try {
      await api.POST("/api/classes/{classId}/polls/{pollId}/close", {
        params: { path: { classId: state.classId, pollId: state.poll.id } },
      });
    } catch (err) {
      toast(why(err));
    }
  };
  $("chat-send").onclick = async () => {
    const ack = await send("chat", { text: input("chat-input").value });
    if (ack?.ok) input("chat-input").value = "";
  };
  input("chat-input").addEventListener("keydown", (e) => {
    if (e.key === "Enter") $("chat-send").click();
  });
  $("raise-hand").onclick = () => void send("raiseHand", {});
  $("lower-hand").onclick = () => void send("lowerHand", {});
  $("share-start").onclick = () => void send("screenShare", { action: "start", streamUrl: input("stream-url").value.trim() });
  $("share-stop").onclick = () => void send("screenShare", { action: "stop" });
  for (const e of EMOJI) {
    const b = document.createElement("button");
    b.textContent = e;
    b.onclick = () => void send("reaction", { emoji: e });
    $("reactions").appendChild(b);
  }
  $("upload-material").onclick = () => void uploadMaterial();
  $("publish-material").onclick = () => void publishMaterial();
  $("list-materials").onclick = () => void listMaterials();

  // Links can pre-fill the form: ?name=Ada&role=tutor&courseId=…&classId=…
  const params = new URLSearchParams(location.search);
  if (params.get("name")) input("name").value = params.get("name")!;
  if (params.get("role")) $<HTMLSelectElement>("role").value = params.get("role")!;
  if (params.get("courseId")) input("course-id").value = params.get("courseId")!;
  if (params.get("classId")) input("class-id").value = params.get("classId")!;
  renderAll();
}

wire();
