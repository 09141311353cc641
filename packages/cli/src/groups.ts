import { BrookError } from "@brook/core";
import { InvalidArgumentError, type Command } from "commander";
import { withClient, type Client } from "./client.js";
import { groupAdminFor, type GroupInfo, type SeekTo } from "./group-admin.js";
import { listingFormat, stdout, table, type ListingFormat } from "./output.js";
import { parseTime } from "./time.js";

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

function seekTo(value: string): SeekTo {
  if (value === "earliest" || value === "latest") return { kind: value };
  if (/^\d+:\d+(,\d+:\d+)*$/.test(value)) {
    const offsets = new Map<string, string>();
    for (const pair of value.split(",")) {
      const [p, o] = pair.split(":") as [string, string];
      if (offsets.has(p)) throw new InvalidArgumentError(`--to names partition ${p} twice`);
      offsets.set(p, o);
    }
    return { kind: "offsets", offsets };
  }
  try {
    return { kind: "time", time: parseTime(value, "--to") };
  } catch {
    throw new InvalidArgumentError(`--to expects earliest, latest, a time (ISO 8601, ms since the epoch, -15m) or partition:offset pairs (0:12,1:40), got "${value}"`);
  }
}

function totalLag(g: GroupInfo): string {
  const known = g.partitions.filter((p) => p.lag !== undefined);
  return known.length === 0 ? "-" : String(known.reduce((sum, p) => sum + p.lag!, 0));
}

/** The topics `group` has state on, or --topic; fails naming the group when it has none. */
async function topicsOf(client: Client, group: string, topic: string | undefined): Promise<GroupInfo[]> {
  const found = (await client.bounded(groupAdminFor(client).list(), "describe groups")).filter((g) => g.group === group && (topic === undefined || g.topic === topic));
  if (found.length === 0) {
    throw new BrookError("INVALID_ARGUMENT", `group "${group}" has no members or committed offsets${topic === undefined ? "" : ` on topic "${topic}"`} on ${client.url}`);
  }
  return found;
}

export function registerGroups(program: Command): void {
  const groups = program
    .command("groups")
    .description("consumer groups: list, describe, delete, seek (the local broker: memory:, local:, brook://; and Kafka), copy (also Pub/Sub)");

  groups
    .command("list")
    .description("one line per group and topic: members and total lag")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (options: { output: ListingFormat }, command: Command) => {
      await withClient(command, async (client) => {
        const all = await client.bounded(groupAdminFor(client).list(), "list groups");
        if (options.output === "json") {
          await stdout().write(`${JSON.stringify(all.map((g) => ({ group: g.group, topic: g.topic, members: g.members.length, lag: totalLag(g) === "-" ? null : Number(totalLag(g)) })))}\n`);
          return;
        }
        if (all.length > 0) await stdout().write(`${table(["group", "topic", "members", "lag"], all.map((g) => [g.group, g.topic, String(g.members.length), totalLag(g)]))}\n`);
      });
    });

  groups
    .command("describe <group>")
    .description("per partition: owner, committed offset, end offset and lag")
    .option("--topic <topic>", "only this topic")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (group: string, options: { topic?: string; output: ListingFormat }, command: Command) => {
      await withClient(command, async (client) => {
        const found = await topicsOf(client, group, options.topic);
        if (options.output === "json") {
          await stdout().write(`${JSON.stringify(found)}\n`);
          return;
        }
        let text = "";
        for (const g of found) {
          text += `group ${g.group} on topic ${g.topic}: ${plural(g.members.length, "member")}\n`;
          const rows = g.partitions.map((p) => [p.partition, p.owner ?? "-", p.committed ?? "-", p.end ?? "-", p.lag === undefined ? "-" : String(p.lag)]);
          text += `${table(["partition", "owner", "committed", "end", "lag"], rows)}\n`;
        }
        await stdout().write(text);
      });
    });

  groups
    .command("delete <group>")
    .description("forget the group's committed offsets (its next member starts at its startFrom); refused while it has members")
    .option("--topic <topic>", "only on this topic (default: every topic the group has offsets on)")
    .action(async (group: string, options: { topic?: string }, command: Command) => {
      await withClient(command, async (client) => {
        const found = await topicsOf(client, group, options.topic);
        const admin = groupAdminFor(client);
        const busy = found.filter((g) => g.members.length > 0);
        if (busy.length > 0) {
          throw new BrookError("INVALID_ARGUMENT", `group "${group}" has live members on ${busy.map((g) => `topic "${g.topic}" (${plural(g.members.length, "member")})`).join(", ")}; stop them first`);
        }
        await client.bounded(admin.delete(group, found.map((g) => g.topic)), "delete group");
        await stdout().write(`deleted group ${group}${found.length === 1 ? ` on topic ${found[0]!.topic}` : ` on topics ${found.map((g) => g.topic).join(", ")}`}\n`);
      });
    });

  groups
    .command("copy <from> <to>")
    .description("blue/green: start group <to> where group <from> stands on the topic, through the backend's own mechanism (offsets, or a Pub/Sub snapshot); <to> must have no live members")
    .requiredOption("--topic <topic>", "the topic")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (from: string, to: string, options: { topic: string; output: ListingFormat }, command: Command) => {
      await withClient(command, async (client) => {
        const positions = await client.bounded(client.broker.admin.copyGroupPositions(options.topic, from, to), "copy group positions");
        if (options.output === "json") {
          await stdout().write(`${JSON.stringify({ topic: options.topic, from, to, positions })}\n`);
          return;
        }
        const rows = positions.map((p) => [p.partition, p.committed ?? "-", p.settledBefore?.toISOString() ?? "-"]);
        await stdout().write(`group ${to} now starts where ${from} stands on ${options.topic}\n${table(["partition", "last settled", "settled before"], rows)}\n`);
      });
    });

  groups
    .command("seek <group>")
    .description("move the group's committed offsets (Kafka's reset-offsets); only while the group has no members")
    .requiredOption("--to <where>", "earliest, latest, a time (ISO 8601, ms since the epoch, -15m), or partition:offset pairs (0:12,1:40)", seekTo)
    .option("--topic <topic>", "the topic (needed when the group is on several, or on none yet)")
    .option("-o, --output <format>", "text or json", listingFormat, "text")
    .action(async (group: string, options: { to: SeekTo; topic?: string; output: ListingFormat }, command: Command) => {
      await withClient(command, async (client) => {
        const admin = groupAdminFor(client);
        let topic = options.topic;
        const known = (await client.bounded(admin.list(), "describe groups")).filter((g) => g.group === group && (topic === undefined || g.topic === topic));
        if (topic === undefined) {
          if (known.length !== 1) {
            throw new BrookError("INVALID_ARGUMENT", known.length === 0 ? `group "${group}" is on no topic yet; name one with --topic` : `group "${group}" is on topics ${known.map((g) => g.topic).join(", ")}; pick one with --topic`);
          }
          topic = known[0]!.topic;
        }
        const members = known.find((g) => g.topic === topic)?.members ?? [];
        if (members.length > 0) {
          throw new BrookError(
            "INVALID_ARGUMENT",
            `group "${group}" has ${plural(members.length, "live member")} on topic "${topic}"; a group's offsets move only while it has no members (stop them, or seek from the application with subscription.seek())`,
          );
        }
        const moved = await client.bounded(admin.seek(group, topic, options.to), "seek group");
        if (options.output === "json") {
          await stdout().write(`${JSON.stringify({ group, topic, partitions: moved })}\n`);
          return;
        }
        const rows = moved.map((p) => [p.partition, p.before ?? "-", p.after]);
        await stdout().write(`group ${group} on topic ${topic}: committed offsets moved\n${table(["partition", "before", "after"], rows)}\n`);
      });
    });
}
