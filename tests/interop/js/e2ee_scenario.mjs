// The end-to-end encryption interop scenario driven by matrix-js-sdk with its Rust crypto
// (@matrix-org/matrix-sdk-crypto-wasm) (test harness; Client-Server API: End-to-End Encryption,
// Send-to-Device messaging, Secrets, Server-side key backups).
//
// Usage: node e2ee_scenario.mjs BASE_URL TAG
// Plays the scenario described in tests/interop/test_e2ee_interop.py and prints the facts observed as
// one JSON line on stdout: {"facts": {...}, "failures": [...], "requests": [...]}. A failure of
// the message exchange ends the run; the phases after it (second device, cross-signing, key
// backup, dehydrated device) are independent and each failure is recorded. The SDK's logging goes to stderr.

import * as sdk from "matrix-js-sdk";
import { CryptoEvent } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, tag] = process.argv.slice(2);
if (!baseUrl || !tag) {
    process.stderr.write("usage: node e2ee_scenario.mjs BASE_URL TAG\n");
    process.exit(2);
}

// Keep stdout for the result line.
console.log = console.error;
console.info = console.error;
console.debug = console.error;
logger.setLevel("warn");

const PASSWORD = "interop password 1";
const WAIT_MS = 30000;
const ALICE = "alice";
const BOB = "bob";
const FROM_ALICE = "secret from alice";
const FROM_BOB = "secret reply from bob";
const TO_SECOND_DEVICE = "secret for alice's second device";
const TO_DEHYDRATED_DEVICE = "secret while alice is offline";

// The last HTTP exchanges, reported when a step fails.
const requests = [];
async function recordingFetch(input, init) {
    const entry = { method: init?.method ?? "GET", url: String(input) };
    if (typeof init?.body === "string") entry.request = init.body.slice(0, 400);
    requests.push(entry);
    if (requests.length > 16) requests.shift();
    const response = await fetch(input, init);
    entry.status = response.status;
    if (!response.ok) entry.response = (await response.clone().text()).slice(0, 400);
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
    for (;;) {
        if (await condition()) return;
        if (Date.now() > deadline) throw new Error(`never saw ${what} within ${WAIT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
}

// Secret storage keys by key ID, shared by every device of this run (what a user would type in).
const secretStorageKeys = new Map();
const cryptoCallbacks = {
    getSecretStorageKey: async ({ keys }) => {
        const keyId = Object.keys(keys).find((id) => secretStorageKeys.has(id));
        return keyId ? [keyId, secretStorageKeys.get(keyId)] : null;
    },
    cacheSecretStorageKey: (keyId, _info, key) => secretStorageKeys.set(keyId, key),
};

function makeClient(options) {
    return sdk.createClient({ baseUrl, fetchFn: recordingFetch, cryptoCallbacks, ...options });
}

// Registration through user-interactive auth (m.login.dummy in the session of a first request).
async function register(name) {
    const anonymous = makeClient({});
    let session;
    await step(`${name}: POST /register (no auth)`, async () => {
        try {
            await anonymous.registerRequest({ username: username(name), password: PASSWORD });
            throw new Error("registered without user-interactive auth");
        } catch (error) {
            if (error?.httpStatus !== 401 || !error?.data?.session) throw error;
            session = error.data.session;
        }
    });
    await step(`${name}: POST /register (m.login.dummy)`, () =>
        anonymous.registerRequest({
            username: username(name),
            password: PASSWORD,
            inhibit_login: true,
            auth: { type: "m.login.dummy", session },
        }),
    );
}

// A new device of `name`: password login, the Rust crypto stack in memory, the sync loop started.
async function device(name, label, clients) {
    const anonymous = makeClient({});
    const login = await step(`${name} (${label}): POST /login`, () =>
        anonymous.loginRequest({
            type: "m.login.password",
            identifier: { type: "m.id.user", user: username(name) },
            password: PASSWORD,
            initial_device_display_name: `js e2ee ${label}`,
        }),
    );
    const client = makeClient({
        accessToken: login.access_token,
        userId: login.user_id,
        deviceId: login.device_id,
    });
    clients.push(client);
    await step(`${name} (${label}): initRustCrypto`, () => client.initRustCrypto({ useIndexedDB: false }));
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") reject(new Error(`sync error ${data?.error?.message}`));
        });
    });
    await step(`${name} (${label}): startClient`, () => client.startClient({ initialSyncLimit: 30 }));
    await step(`${name} (${label}): first /sync`, () =>
        Promise.race([
            prepared,
            new Promise((_, reject) => setTimeout(() => reject(new Error("no PREPARED")), WAIT_MS)),
        ]),
    );
    // The device keys and one-time keys are uploaded by the crypto stack's outgoing requests.
    await step(`${name} (${label}): device keys on the server`, () =>
        until("its device keys in /keys/query", async () => {
            const keys = await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
                device_keys: { [login.user_id]: [login.device_id] },
            });
            return Boolean(keys.device_keys?.[login.user_id]?.[login.device_id]);
        }),
    );
    return client;
}

// The decrypted body of the event with `eventId` in `client`'s view of the room, once decrypted.
function decryptedBody(client, roomId, eventId) {
    const event = client.getRoom(roomId)?.findEventById(eventId);
    if (!event || event.isBeingDecrypted() || event.isDecryptionFailure()) return undefined;
    return event.getWireType() === "m.room.encrypted" ? event.getContent()?.body : undefined;
}

async function seesDecrypted(client, name, roomId, eventId, body) {
    await step(`${name}: decrypts ${JSON.stringify(body)}`, () =>
        until(`${JSON.stringify(body)} decrypted`, async () => {
            const event = client.getRoom(roomId)?.findEventById(eventId);
            if (event?.isDecryptionFailure()) await client.decryptEventIfNeeded(event, { isRetry: true });
            return decryptedBody(client, roomId, eventId) === body;
        }),
    );
    return decryptedBody(client, roomId, eventId);
}

async function scenario(facts, failures, clients) {
    await register(ALICE);
    await register(BOB);
    const a = await device(ALICE, "first device", clients);
    const b = await device(BOB, "first device", clients);
    const aId = a.getUserId();
    const bId = b.getUserId();

    const { room_id: roomId } = await step("alice: POST /createRoom (encrypted)", () =>
        a.createRoom({
            name: "e2ee interop",
            preset: sdk.Preset.PrivateChat,
            invite: [bId],
            initial_state: [
                { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
            ],
        }),
    );
    await step("bob: sees the invite", () => until("the invite", () => b.getRoom(roomId)?.getMyMembership() === "invite"));
    await step("bob: POST join", () => b.joinRoom(roomId));
    await step("alice: sees bob's join", () =>
        until("bob's join", () => a.getRoom(roomId)?.getMember(bId)?.membership === "join"),
    );
    facts.room_encrypted = await step("alice: isEncryptionEnabledInRoom", () =>
        a.getCrypto().isEncryptionEnabledInRoom(roomId),
    );

    const ids = {};
    const sent = await step("alice: send encrypted", () =>
        a.sendMessage(roomId, { msgtype: "m.text", body: FROM_ALICE }),
    );
    ids[FROM_ALICE] = sent.event_id;
    facts.bob_decrypted = await seesDecrypted(b, BOB, roomId, sent.event_id, FROM_ALICE);
    const reply = await step("bob: send encrypted", () => b.sendMessage(roomId, { msgtype: "m.text", body: FROM_BOB }));
    ids[FROM_BOB] = reply.event_id;
    facts.alice_decrypted = await seesDecrypted(a, ALICE, roomId, reply.event_id, FROM_BOB);
    facts.wire_types = [sent.event_id, reply.event_id].map(
        (id) => a.getRoom(roomId)?.findEventById(id)?.getWireType() ?? null,
    );

    const context = { a, b, aId, bId, roomId, ids, clients };
    for (const phase of [secondDevice, crossSigning, keyBackup, dehydratedDevice]) {
        try {
            await phase(facts, context);
        } catch (error) {
            failures.push(String(error?.message ?? error));
        }
    }
}

// A second device of A's appears in B's device list through /sync and receives B's room key.
async function secondDevice(facts, context) {
    const { b, aId, roomId, ids, clients } = context;
    const a2 = await device(ALICE, "second device", clients);
    context.a2 = a2;
    const a2Device = a2.getDeviceId();
    await step("bob: learns alice's second device", () =>
        until("alice's second device in bob's device list", async () => {
            const devices = await b.getCrypto().getUserDeviceInfo([aId], false);
            return devices.get(aId)?.has(a2Device) ?? false;
        }),
    );
    facts.bob_learns_second_device = true;
    const sent = await step("bob: send encrypted (after the second device)", () =>
        b.sendMessage(roomId, { msgtype: "m.text", body: TO_SECOND_DEVICE }),
    );
    ids[TO_SECOND_DEVICE] = sent.event_id;
    await step("alice (second device): sees the message", () =>
        until("the message", () => a2.getRoom(roomId)?.findEventById(sent.event_id)),
    );
    facts.second_device_decrypted = await seesDecrypted(a2, "alice (second device)", roomId, sent.event_id, TO_SECOND_DEVICE);
}

// UIA for /keys/device_signing/upload: without auth first (the spec lets a server skip UIA for a
// first upload), then with the password in the session the server opened.
function passwordAuth(name) {
    return async (makeRequest) => {
        try {
            await makeRequest(null);
        } catch (error) {
            if (error?.httpStatus !== 401 || !error?.data?.session) throw error;
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: username(name) },
                password: PASSWORD,
                session: error.data.session,
            });
        }
    };
}

// A bootstraps cross-signing on its first device, which signs itself; B and A's second device
// see A's cross-signing keys and the first device signed by its owner.
async function crossSigning(facts, { a, b, a2, aId }) {
    const crypto = a.getCrypto();
    await step("alice: bootstrapCrossSigning", () =>
        crypto.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth(ALICE) }),
    );
    facts.cross_signing_ready = await step("alice: isCrossSigningReady", () => crypto.isCrossSigningReady());
    const status = await step("alice: getCrossSigningStatus", () => crypto.getCrossSigningStatus());
    facts.cross_signing_status = {
        public_keys_on_device: status.publicKeysOnDevice,
        private_keys_cached: Object.values(status.privateKeysCachedLocally).every(Boolean),
    };
    const master = await crypto.getCrossSigningKeyId(sdk.CrossSigningKey?.Master ?? "master");
    await step("bob: sees alice's cross-signing keys", () =>
        until("alice's master key", () => b.getCrypto().userHasCrossSigningKeys(aId, true)),
    );
    facts.bob_sees_alice_cross_signing = true;
    const keys = await step("bob: POST /keys/query", () =>
        b.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, { device_keys: { [aId]: [] } }),
    );
    facts.queried_master_key_matches = Object.keys(keys.master_keys?.[aId]?.keys ?? {}).includes(`ed25519:${master}`);
    facts.queried_cross_signing_keys = ["master_keys", "self_signing_keys"].filter((k) => keys[k]?.[aId]);
    if (a2) {
        await step("alice (second device): sees the first device signed by its owner", () =>
            until("the first device cross-signed", async () => {
                await a2.getCrypto().userHasCrossSigningKeys(aId, true);
                const verification = await a2.getCrypto().getDeviceVerificationStatus(aId, a.getDeviceId());
                return verification?.signedByOwner === true;
            }),
        );
        facts.first_device_signed_by_owner = true;
    }
}

// A sets up secret storage with a new key backup; the room keys are uploaded; a third device of
// A's gets the backup key from secret storage, restores the backup and decrypts the history.
async function keyBackup(facts, { a, aId, roomId, ids, clients }) {
    const crypto = a.getCrypto();
    const recoveryKey = await step("alice: createRecoveryKeyFromPassphrase", () => crypto.createRecoveryKeyFromPassphrase());
    await step("alice: bootstrapSecretStorage (new key backup)", () =>
        crypto.bootstrapSecretStorage({
            createSecretStorageKey: async () => recoveryKey,
            setupNewKeyBackup: true,
        }),
    );
    facts.secret_storage_ready = await step("alice: isSecretStorageReady", () => crypto.isSecretStorageReady());
    const version = await step("alice: getActiveSessionBackupVersion", () =>
        until("an active backup", async () => (await crypto.getActiveSessionBackupVersion()) !== null).then(() =>
            crypto.getActiveSessionBackupVersion(),
        ),
    );
    const exported = await step("alice: exportRoomKeys", () => crypto.exportRoomKeys());
    const sessions = exported.filter((k) => k.room_id === roomId).length;
    await step("alice: room keys uploaded to the backup", () =>
        until(`${sessions} sessions in backup version ${version}`, async () => {
            const info = await a.http.authedRequest(sdk.Method.Get, "/room_keys/version");
            return info.version === version && info.count >= sessions;
        }),
    );
    const stored = await step("alice: GET /room_keys/keys", () =>
        a.http.authedRequest(sdk.Method.Get, "/room_keys/keys", { version }),
    );
    facts.backed_up_sessions_match = Object.keys(stored.rooms?.[roomId]?.sessions ?? {}).length === sessions;
    const info = await step("alice: getKeyBackupInfo", () => crypto.getKeyBackupInfo());
    facts.backup_algorithm = info?.algorithm ?? null;
    facts.backup_trusted = (await crypto.isKeyBackupTrusted(info)).trusted;

    const a3 = await device(ALICE, "third device", clients);
    const crypto3 = a3.getCrypto();
    await step("alice (third device): loadSessionBackupPrivateKeyFromSecretStorage", () =>
        crypto3.loadSessionBackupPrivateKeyFromSecretStorage(),
    );
    await step("alice (third device): checkKeyBackupAndEnable", () => crypto3.checkKeyBackupAndEnable());
    const restored = await step("alice (third device): restoreKeyBackup", () => crypto3.restoreKeyBackup());
    facts.restored_all = restored.total === sessions;
    const history = await step("alice (third device): GET /messages", () =>
        a3.createMessagesRequest(roomId, null, 30, sdk.Direction.Backward),
    );
    const bodies = [];
    for (const raw of history.chunk.reverse()) {
        if (raw.type !== "m.room.encrypted") continue;
        const event = new sdk.MatrixEvent(raw);
        await a3.decryptEventIfNeeded(event);
        bodies.push(event.isDecryptionFailure() ? null : event.getContent()?.body);
    }
    facts.history_decrypted_after_restore = bodies;
    facts.restored_message_ids_known = bodies.length === Object.keys(ids).length;
    void aId;
}

// MSC3814 dehydrated devices: A's first device creates one (its key in secret storage); B sees
// it and shares the room key of its next message with it; A's fourth device, which never saw
// that key, rehydrates the device (its to-device messages) and decrypts the message.
async function dehydratedDevice(facts, { a, b, aId, roomId, clients }) {
    const crypto = a.getCrypto();
    facts.dehydration_supported = await step("alice: isDehydrationSupported", () => crypto.isDehydrationSupported());
    await step("alice: startDehydration", () => crypto.startDehydration({ rehydrate: false }));
    const dehydrated = await step("alice: GET dehydrated_device", () =>
        a.http.authedRequest(sdk.Method.Get, "/dehydrated_device", undefined, undefined, {
            prefix: "/_matrix/client/unstable/org.matrix.msc3814.v1",
        }),
    );
    await step("bob: learns alice's dehydrated device", () =>
        until("the dehydrated device in bob's device list", async () => {
            const devices = await b.getCrypto().getUserDeviceInfo([aId], false);
            return devices.get(aId)?.get(dehydrated.device_id)?.dehydrated === true;
        }),
    );
    facts.bob_sees_dehydrated_device = true;
    const sent = await step("bob: send encrypted (for the dehydrated device)", () =>
        b.sendMessage(roomId, { msgtype: "m.text", body: TO_DEHYDRATED_DEVICE }),
    );

    const a4 = await device(ALICE, "fourth device", clients);
    let roomKeys = 0;
    a4.on(CryptoEvent.RehydrationProgress, (keys) => (roomKeys += keys));
    const rehydrated = new Promise((resolve, reject) => {
        a4.on(CryptoEvent.RehydrationCompleted, () => resolve());
        a4.on(CryptoEvent.RehydrationError, (message) => reject(new Error(`rehydration: ${message}`)));
    });
    // Its own cross-signing identity first: the private keys are checked against it.
    await step("alice (fourth device): its cross-signing identity", () =>
        until("alice's master key", () => a4.getCrypto().userHasCrossSigningKeys(aId, true)),
    );
    await step("alice (fourth device): bootstrapCrossSigning (keys from secret storage)", () =>
        a4.getCrypto().bootstrapCrossSigning({}),
    );
    await step("alice (fourth device): startDehydration (rehydrate)", () => a4.getCrypto().startDehydration());
    await step("alice (fourth device): rehydration completed", () =>
        Promise.race([
            rehydrated,
            new Promise((_, reject) => setTimeout(() => reject(new Error("no RehydrationCompleted")), WAIT_MS)),
        ]),
    );
    await step("alice (fourth device): sees the message", () =>
        until("the message", () => a4.getRoom(roomId)?.findEventById(sent.event_id)),
    );
    facts.rehydrated_room_keys = roomKeys > 0;
    // The key came from the dehydrated device: this device never had the backup key.
    facts.fourth_device_without_backup_key = (await a4.getCrypto().getSessionBackupPrivateKey()) === null;
    facts.rehydrated_device_decrypted = await seesDecrypted(
        a4, "alice (fourth device)", roomId, sent.event_id, TO_DEHYDRATED_DEVICE,
    );
}

const facts = {};
const failures = [];
const clients = [];
let status = 0;
try {
    await scenario(facts, failures, clients);
} catch (error) {
    failures.push(String(error?.message ?? error));
} finally {
    for (const client of clients) client.stopClient();
}
if (failures.length) status = 1;
process.stdout.write(`${JSON.stringify({ facts, failures, requests: failures.length ? requests : [] })}\n`);
process.exit(status);
