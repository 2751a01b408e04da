// A matrix-js-sdk (Rust crypto) peer for the cross-library E2EE interop test (test harness;
// Client-Server API: End-to-End Encryption).
//
// Usage: node e2ee_peer.mjs BASE_URL USER PASSWORD
// Logs in as USER (registered already), starts the Rust crypto stack and the sync loop, and
// prints {"ready": DEVICE_ID} on stdout once its device keys are on the server. It joins the first
// room it is invited to, waits for the first message of another user in an encrypted room,
// decrypts it, answers "reply to: BODY" (encrypted by the SDK) and prints
// {"received": BODY, "sender": USER_ID, "reply": EVENT_ID}, then exits. On failure it prints
// {"error": "..."} and exits 1; it gives up after 60 s.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const [baseUrl, user, password] = process.argv.slice(2);
if (!baseUrl || !user || !password) {
    process.stderr.write("usage: node e2ee_peer.mjs BASE_URL USER PASSWORD\n");
    process.exit(2);
}
console.log = console.error;
console.info = console.error;
console.debug = console.error;
logger.setLevel("warn");

const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const clients = [];
setTimeout(() => {
    say({ error: "timed out after 60 s" });
    process.exit(1);
}, 60000);

async function main() {
    const anonymous = sdk.createClient({ baseUrl });
    const login = await anonymous.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user },
        password,
        initial_device_display_name: "js e2ee peer",
    });
    const client = sdk.createClient({
        baseUrl,
        accessToken: login.access_token,
        userId: login.user_id,
        deviceId: login.device_id,
    });
    clients.push(client);
    await client.initRustCrypto({ useIndexedDB: false });

    const received = new Promise((resolve, reject) => {
        client.on(sdk.RoomMemberEvent.Membership, (_event, member) => {
            if (member.userId === login.user_id && member.membership === "invite") {
                client.joinRoom(member.roomId).catch(reject);
            }
        });
        client.on(sdk.MatrixEventEvent.Decrypted, (event) => {
            if (event.getSender() !== login.user_id && event.getType() === "m.room.message" && !event.isDecryptionFailure()) {
                resolve(event);
            }
        });
    });
    await client.startClient({ initialSyncLimit: 10 });
    const deadline = Date.now() + 30000;
    for (;;) {
        const keys = await client.http.authedRequest(sdk.Method.Post, "/keys/query", undefined, {
            device_keys: { [login.user_id]: [login.device_id] },
        });
        if (keys.device_keys?.[login.user_id]?.[login.device_id]) break;
        if (Date.now() > deadline) throw new Error("device keys never uploaded");
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    say({ ready: login.device_id });

    const event = await received;
    const body = event.getContent().body;
    const reply = await client.sendMessage(event.getRoomId(), { msgtype: "m.text", body: `reply to: ${body}` });
    say({ received: body, sender: event.getSender(), reply: reply.event_id });
}

let status = 0;
try {
    await main();
} catch (error) {
    say({ error: String(error?.message ?? error) });
    status = 1;
} finally {
    for (const client of clients) client.stopClient();
}
process.exit(status);
