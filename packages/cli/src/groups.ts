import { BrookError } from "@brook/core";
import type { Command } from "commander";
import { needApi, table, withClient } from "./client.js";

export function registerGroups(program: Command): void {
  const groups = program.command("groups").description("consumer groups, their members and lag (brook:// only)");

  groups
    .command("list")
    .description("one line per group and topic: members and total lag")
    .action(async (_options: unknown, command: Command) => {
      await withClient(command, async (client) => {
        const all = await needApi(client, "groups list").describeGroups();
        const rows = [["group", "topic", "members", "lag"]];
        for (const g of all) {
          const known = g.partitions.filter((p) => p.lag !== undefined);
          const lag = known.length === 0 ? "-" : String(known.reduce((sum, p) => sum + p.lag!, 0));
          rows.push([g.group, g.topic, String(g.members.length), lag]);
        }
        if (all.length > 0) process.stdout.write(`${table(rows)}\n`);
      });
    });

  groups
    .command("describe <group>")
    .description("per partition: owner, committed offset, end offset and lag")
    .option("--topic <topic>", "only this topic")
    .action(async (group: string, options: { topic?: string }, command: Command) => {
      await withClient(command, async (client) => {
        const found = (await needApi(client, "groups describe").describeGroups()).filter(
          (g) => g.group === group && (options.topic === undefined || g.topic === options.topic),
        );
        if (found.length === 0) {
          throw new BrookError("INVALID_ARGUMENT", `group "${group}" has no members or committed offsets${options.topic === undefined ? "" : ` on topic "${options.topic}"`}`);
        }
        for (const g of found) {
          process.stdout.write(`group ${g.group} on topic ${g.topic}: ${g.members.length} member${g.members.length === 1 ? "" : "s"}\n`);
          const rows = [["partition", "owner", "committed", "end", "lag"]];
          for (const p of g.partitions) {
            rows.push([String(p.partition), p.owner ?? "-", p.committed === undefined ? "-" : String(p.committed), String(p.end), p.lag === undefined ? "-" : String(p.lag)]);
          }
          process.stdout.write(`${table(rows)}\n`);
        }
      });
    });
}
