// The lab's DNS pod: answers UDP queries on port 53 from a records file the lab rewrites as Services
// change (read again on each query: the file is small and queries are few). Started by the lab as
// `node dns-server.js --records FILE [--ready FILE]` inside the DNS pod's network namespace.
import { createSocket } from "node:dgram";
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as dnsPacket from "dns-packet";
import { answerDns } from "./dns.js";

const { values } = parseArgs({
  options: {
    records: { type: "string" },
    ready: { type: "string" },
    port: { type: "string", default: "53" },
  },
});
const recordsFile = values.records ?? "";
const sock = createSocket("udp4");
sock.on("message", (msg, rinfo) => {
  try {
    const records = JSON.parse(readFileSync(recordsFile, "utf8")) as Record<string, string>;
    sock.send(dnsPacket.encode(answerDns(dnsPacket.decode(msg), records)), rinfo.port, rinfo.address);
  } catch (err) {
    process.stderr.write(`dns-server: ${String(err)}\n`); // a malformed query is dropped, as servers do
  }
});
sock.bind(Number(values.port), "0.0.0.0", () => {
  if (values.ready) writeFileSync(values.ready, `${process.pid}\n`);
});
