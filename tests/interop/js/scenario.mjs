// The interop scenario driven by matrix-js-sdk (test harness; Client-Server API: registration,
// login, profiles, rooms, /sync, typing, receipts, read markers, /messages, relations).
//
// Usage: node scenario.mjs BASE_URL TAG
// Plays the scenario described in tests/interop/facts.py with two MatrixClients that run the
// SDK's own sync loop (startClient), and prints the facts observed as one JSON line on stdout:
// {"facts": {...}} on success, {"error": "...", "requests": [...]} (the last HTTP exchanges) on
// failure, with exit status 1. The SDK's logging goes to stderr.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, tag] = process.argv.slice(2);
if (!baseUrl || !tag) {
    process.stderr.write("usage: node scenario.mjs BASE_URL TAG\n");
    process.exit(2);
}

// Keep stdout for the result line.
console.log = console.error;
console.info = console.error;
console.debug = console.error;
logger.setLevel("warn");

const PASSWORD = "interop password 1";
const WAIT_MS = 20000;
const MAX_PAGES = 10;
const PAGE_SIZE = 3;
const ALICE = "alice";
const BOB = "bob";
const ALICE_NAME = "Alice Liddell";
const BOB_NAME = "Bob Builder";
const ALICE_RENAMED = "Alice in Wonderland";
const EXCHANGE = [
    [ALICE, "hello from alice"],
    [BOB, "hello from bob"],
    [ALICE, "second from alice"],
    [BOB, "second from bob"],
];
const EDITED_BODY = "hello from alice (edited)";
const REACTION_KEY = "👍";

// The last HTTP exchanges, reported when a step fails.
const requests = [];
async function recordingFetch(input, init) {
    const entry = { method: init?.method ?? "GET", url: String(input) };
    if (typeof init?.body === "string") entry.request = init.body.slice(0, 500);
    requests.push(entry);
    if (requests.length > 12) requests.shift();
    const response = await fetch(input, init);
    entry.status = response.status;
    if (!response.ok) entry.response = (await response.clone().text()).slice(0, 500);
    return response;
}

const username = (name) => `${name}-${tag}`;
const who = (userId) => userId.slice(1).split(":")[0].replace(new RegExp(`-${tag}$`), "");

async function step(name, action) {
    try {
        return await action();
    } catch (error) {
        const status = error?.httpStatus ? ` HTTP ${error.httpStatus}` : "";
        const code = error?.errcode ? ` ${error.errcode}` : "";
        const failed = requests.findLast((r) => r.status >= 400);
        const exchange = failed
            ? ` [${failed.method} ${new URL(failed.url).pathname} -> ${failed.status} ${failed.response ?? ""}]`
            : "";
        throw new Error(`${name}:${status}${code} ${error?.message ?? error}${exchange}`);
    }
}

async function until(what, condition) {
    const deadline = Date.now() + WAIT_MS;
    while (!condition()) {
        if (Date.now() > deadline) throw new Error(`never saw ${what} within ${WAIT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
}

function makeClient(options) {
    return sdk.createClient({ baseUrl, fetchFn: recordingFetch, ...options });
}

// Registration through user-interactive auth: a first request without auth gets the flows
// and a session, the second completes m.login.dummy in that session. Then a password login.
async function registerAndLogin(name) {
    const anonymous = makeClient({});
    let session;
    await step(`${name}: POST /register (no auth)`, async () => {
        try {
            await anonymous.registerRequest({ username: username(name), password: PASSWORD });
            throw new Error("registered without user-interactive auth");
        } catch (error) {
            if (error?.httpStatus !== 401 || !error?.data?.session) throw error;
            const flows = error.data.flows ?? [];
            if (!flows.some((flow) => flow.stages?.length === 1 && flow.stages[0] === "m.login.dummy")) {
                throw new Error(`no m.login.dummy flow in ${JSON.stringify(flows)}`);
            }
            session = error.data.session;
        }
    });
    const registered = await step(`${name}: POST /register (m.login.dummy)`, () =>
        anonymous.registerRequest({
            username: username(name),
            password: PASSWORD,
            initial_device_display_name: "js register",
            auth: { type: "m.login.dummy", session },
        }),
    );
    const login = await step(`${name}: POST /login`, () =>
        anonymous.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: username(name) },
            password: PASSWORD,
            initial_device_display_name: "js login",
        }),
    );
    const client = makeClient({
        accessToken: login.access_token,
        userId: login.user_id,
        deviceId: login.device_id,
    });
    return { client, registeredId: registered.user_id, loginId: login.user_id };
}

async function start(client, name) {
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") reject(new Error(`${name}: sync error ${data?.error?.message}`));
        });
    });
    await step(`${name}: startClient`, () => client.startClient({ initialSyncLimit: 30 }));
    await step(`${name}: first /sync`, () =>
        Promise.race([
            prepared,
            new Promise((_, reject) => setTimeout(() => reject(new Error("no PREPARED")), WAIT_MS)),
        ]),
    );
}

const timelineEvents = (room) => (room ? room.getLiveTimeline().getEvents().map((e) => e.event) : []);
const messages = (events) =>
    events
        .filter((e) => e.type === "m.room.message" && !e.content?.["m.relates_to"])
        .map((e) => [who(e.sender), e.content.body]);
const memberContent = (room, userId) =>
    room?.currentState.getStateEvents("m.room.member", userId)?.getContent() ?? {};

async function scenario(facts, clients) {
    const alice = await registerAndLogin(ALICE);
    clients.push(alice.client);
    const bob = await registerAndLogin(BOB);
    clients.push(bob.client);
    facts.registered = [who(alice.registeredId), who(bob.registeredId)];
    facts.logged_in = [who(alice.loginId), who(bob.loginId)];
    const a = alice.client;
    const b = bob.client;
    const aId = alice.loginId;
    const bId = bob.loginId;
    await start(a, ALICE);
    await start(b, BOB);

    await step("alice: PUT displayname", () => a.setDisplayName(ALICE_NAME));
    await step("bob: PUT displayname", () => b.setDisplayName(BOB_NAME));
    const { room_id: roomId } = await step("alice: POST /createRoom", () =>
        a.createRoom({ name: "interop", preset: sdk.Preset.PrivateChat }),
    );
    await step("alice: POST invite", () => a.invite(roomId, bId));
    await step("bob: sees the invite", () => until("the invite", () => b.getRoom(roomId)?.getMyMembership() === "invite"));
    facts.invite_seen_by_bob = true;
    facts.invite_room_name =
        b.getRoom(roomId).currentState.getStateEvents("m.room.name", "")?.getContent()?.name ?? null;
    await step("bob: POST join", () => b.joinRoom(roomId));
    await step("alice: sees bob's join", () =>
        until("bob's join", () => memberContent(a.getRoom(roomId), bId).membership === "join"),
    );
    const joined = await step("alice: GET joined_members", () => a.getJoinedRoomMembers(roomId));
    facts.joined_members = Object.keys(joined.joined).map(who).sort();

    const ids = {};
    for (const [sender, body] of EXCHANGE) {
        const [client, other] = sender === ALICE ? [a, b] : [b, a];
        const sent = await step(`${sender}: PUT send m.room.message`, () =>
            client.sendMessage(roomId, { msgtype: "m.text", body }),
        );
        ids[body] = sent.event_id;
        await step(`${sender === ALICE ? BOB : ALICE}: sees ${JSON.stringify(body)}`, () =>
            until(body, () => other.getRoom(roomId)?.findEventById(sent.event_id)),
        );
    }
    const last = ids["second from bob"];
    await step("both: see the last message", () =>
        until("the last message", () =>
            [a, b].every((c) => timelineEvents(c.getRoom(roomId)).some((e) => e.event_id === last)),
        ),
    );
    facts.timeline_seen_by_alice = messages(timelineEvents(a.getRoom(roomId)));
    facts.timeline_seen_by_bob = messages(timelineEvents(b.getRoom(roomId)));
    const bodies = Object.fromEntries(Object.entries(ids).map(([body, id]) => [id, body]));
    const context = { a, b, aId, bId, roomId, ids, bodies, clients };
    // The phases after the exchange are independent: each failure is recorded, the next is played.
    const failures = [];
    for (const phase of [freshLogin, typing, receipts, history, relationsPhase, profiles]) {
        try {
            await phase(facts, context);
        } catch (error) {
            failures.push(String(error?.message ?? error));
        }
    }
    if (failures.length) throw new Error(failures.join("\n"));
}

// B logs in on a second device; its first sync (timeline limit 3) shows the room.
async function freshLogin(facts, { roomId, clients }) {
    const anonymous = makeClient({});
    const login = await step("bob: POST /login (second device)", () =>
        anonymous.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: username(BOB) },
            password: PASSWORD,
            initial_device_display_name: "js 2",
        }),
    );
    const second = makeClient({ accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id });
    clients.push(second);
    const prepared = new Promise((resolve) => {
        second.on(sdk.ClientEvent.Sync, (state) => state === "PREPARED" && resolve());
    });
    await step("bob: startClient (second device)", () => second.startClient({ initialSyncLimit: 3 }));
    await step("bob: first /sync (second device)", () =>
        Promise.race([prepared, new Promise((_, reject) => setTimeout(() => reject(new Error("no PREPARED")), WAIT_MS))]),
    );
    const room = second.getRoom(roomId);
    if (!room) throw new Error(`bob: the second device's first sync lacks ${roomId}`);
    const live = room.getLiveTimeline();
    second.stopClient();
    facts.fresh_login = {
        timeline: messages(live.getEvents().map((e) => e.event)),
        // The SDK does not expose the flag: limited means the window starts after the room's
        // creation and the SDK can paginate back from it.
        limited:
            !live.getEvents().some((e) => e.getType() === "m.room.create") &&
            live.getPaginationToken(sdk.Direction.Backward) !== null,
        room_name: room.currentState.getStateEvents("m.room.name", "")?.getContent()?.name ?? null,
    };
}

async function typing(facts, { a, b, aId, roomId }) {
    const typers = () => (b.getRoom(roomId)?.getJoinedMembers() ?? []).filter((m) => m.typing).map((m) => m.userId);
    await step("alice: PUT typing true", () => a.sendTyping(roomId, true, 30000));
    await step("bob: sees alice typing", () => until("alice typing", () => typers().includes(aId)));
    facts.typing_seen_by_bob = typers().map(who);
    await step("alice: PUT typing false", () => a.sendTyping(roomId, false, 0));
    await step("bob: sees alice stop typing", () => until("alice stop typing", () => typers().length === 0));
    facts.typing_stopped_seen_by_bob = typers().map(who);
}

async function receipts(facts, { a, b, bId, roomId, ids, bodies }) {

    const read = ids["second from alice"];
    await step("bob: POST receipt", () => b.sendReceipt(b.getRoom(roomId).findEventById(read), "m.read"));
    // The receipt bob's client sees from the server, not its own synthesized one.
    const receiptOfBob = () => a.getRoom(roomId)?.getReadReceiptForUserId(bId, true, "m.read");
    await step("alice: sees bob's receipt", () => until("bob's receipt", () => receiptOfBob()?.eventId === read));
    facts.receipt_seen_by_alice = { user: who(bId), type: "m.read", body: bodies[receiptOfBob().eventId] };
    const marker = ids["second from bob"];
    await step("bob: POST read_markers", () => b.setRoomReadMarkers(roomId, marker));
    const fullyRead = () => b.getRoom(roomId)?.getAccountData("m.fully_read")?.getContent()?.event_id;
    await step("bob: sees its fully-read marker", () => until("m.fully_read", () => fullyRead() === marker));
    facts.fully_read_seen_by_bob = bodies[fullyRead()];
}

async function history(facts, { a, roomId }) {

    // History, backwards from alice's latest sync token.
    let token = a.store.getSyncToken();
    const seen = [];
    for (let page = 0; page < MAX_PAGES; page++) {
        const response = await step(`alice: GET /messages page ${page}`, () =>
            a.createMessagesRequest(roomId, token, PAGE_SIZE, sdk.Direction.Backward),
        );
        seen.push(...response.chunk);
        if (!response.chunk.length || !response.end) break;
        token = response.end;
    }
    facts.history_messages = messages(seen);
    facts.history_reached_create = seen.some((e) => e.type === "m.room.create");
}

async function relationsPhase(facts, { a, b, roomId, ids, bodies }) {

    const target = ids["hello from alice"];
    const edit = await step("alice: PUT send m.replace", () =>
        a.sendEvent(roomId, "m.room.message", {
            msgtype: "m.text",
            body: `* ${EDITED_BODY}`,
            "m.new_content": { msgtype: "m.text", body: EDITED_BODY },
            "m.relates_to": { rel_type: "m.replace", event_id: target },
        }),
    );
    const reaction = await step("bob: PUT send m.reaction", () =>
        b.sendEvent(roomId, "m.reaction", {
            "m.relates_to": { rel_type: "m.annotation", event_id: target, key: REACTION_KEY },
        }),
    );
    const find = (client, id) => timelineEvents(client.getRoom(roomId)).find((e) => e.event_id === id);
    await step("bob: sees alice's edit", () => until("the edit", () => find(b, edit.event_id)));
    const seenEdit = find(b, edit.event_id);
    facts.edit_seen_by_bob = {
        sender: who(seenEdit.sender),
        target: bodies[seenEdit.content["m.relates_to"].event_id],
        body: seenEdit.content["m.new_content"]?.body,
    };
    await step("alice: sees bob's reaction", () => until("the reaction", () => find(a, reaction.event_id)));
    const seenReaction = find(a, reaction.event_id);
    facts.reaction_seen_by_alice = {
        sender: who(seenReaction.sender),
        target: bodies[seenReaction.content["m.relates_to"].event_id],
        key: seenReaction.content["m.relates_to"].key,
    };

    const original = await step("alice: GET event", () => a.fetchRoomEvent(roomId, target));
    const bundled = original.unsigned?.["m.relations"]?.["m.replace"];
    facts.bundled_edit = bundled
        ? { sender: who(bundled.sender ?? ""), body: bundled.content?.["m.new_content"]?.body }
        : null;
    const relations = [];
    let from;
    for (let page = 0; page < MAX_PAGES; page++) {
        const response = await step("alice: GET /relations", () =>
            a.fetchRelations(roomId, target, null, null, { from, dir: sdk.Direction.Backward }),
        );
        for (const e of response.chunk) {
            const rel = e.content?.["m.relates_to"] ?? {};
            relations.push([rel.rel_type, who(e.sender), rel.key ?? e.content?.["m.new_content"]?.body]);
        }
        if (!response.next_batch) break;
        from = response.next_batch;
    }
    facts.relations = relations.sort();
}

async function profiles(facts, { a, b, aId, roomId }) {

    const profile = await step("bob: GET profile", () => b.getProfileInfo(aId));
    facts.profile_seen_by_bob = profile.displayname;
    facts.member_name_seen_by_bob = memberContent(b.getRoom(roomId), aId).displayname;
    await step("alice: PUT displayname again", () => a.setDisplayName(ALICE_RENAMED));
    await step("bob: sees alice's new name", () =>
        until("the new name", () => memberContent(b.getRoom(roomId), aId).displayname === ALICE_RENAMED),
    );
    facts.renamed_member_seen_by_bob = memberContent(b.getRoom(roomId), aId).displayname;
}

const facts = {};
const clients = [];
let status = 0;
try {
    await scenario(facts, clients);
    process.stdout.write(`${JSON.stringify({ facts })}\n`);
} catch (error) {
    process.stdout.write(`${JSON.stringify({ error: String(error?.message ?? error), facts, requests })}\n`);
    status = 1;
} finally {
    for (const client of clients) client.stopClient();
}
process.exit(status);
