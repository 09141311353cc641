import { describe, expect, test } from "@jest/globals";
import { parseEventHubsUrl, resolveEventHubsOptions } from "./options.js";
import { toEventHubsBrookError } from "./errors.js";
import { startPositionsFor } from "./subscriber.js";

const CS = "Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc=";

describe("Event Hubs URLs", () => {
  test("eventhubs://<namespace>/<hub> with key parameters binds the hub and builds the connection string", () => {
    const o = resolveEventHubsOptions(parseEventHubsUrl("eventhubs://myns.servicebus.windows.net/orders?sharedAccessKeyName=send&sharedAccessKey=abc%3D"), {});
    expect(o.fullyQualifiedNamespace).toBe("myns.servicebus.windows.net");
    expect(o.hub).toBe("orders");
    expect(o.connectionString).toBe("Endpoint=sb://myns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc=");
  });

  test("eventhubs://?connectionString=<url-encoded> and a bare Endpoint=sb:// string; EntityPath binds the hub", () => {
    const viaParam = resolveEventHubsOptions(parseEventHubsUrl(`eventhubs://?connectionString=${encodeURIComponent(`${CS};EntityPath=orders`)}`), {});
    expect(viaParam.fullyQualifiedNamespace).toBe("myns.servicebus.windows.net");
    expect(viaParam.hub).toBe("orders");
    expect(viaParam.connectionString).toBe(CS);
    const bare = resolveEventHubsOptions(parseEventHubsUrl(CS), {});
    expect(bare.hub).toBeUndefined();
    expect(bare.connectionString).toBe(CS);
  });

  test("checkpoint store and balancing parameters are parsed and typed options win", () => {
    const url = `${CS.replace(/^/, "eventhubs://?connectionString=").replace(/;/g, "%3B").replace(/=/g, "%3D").replace("connectionString%3D", "connectionString=")}&checkpointStore=blob&blobConnectionString=UseDevelopmentStorage%3Dtrue&container=ckpt&updateIntervalMs=300&ownershipExpirationMs=3000`;
    const o = resolveEventHubsOptions(parseEventHubsUrl(url), { loadBalancing: "balanced", maxWaitTimeMs: 250 });
    expect(o).toMatchObject({ checkpointStore: "blob", container: "ckpt", updateIntervalMs: 300, ownershipExpirationMs: 3000, loadBalancing: "balanced", maxWaitTimeMs: 250 });
    expect(o.publishPositions).toBe("exact");
    expect(resolveEventHubsOptions(parseEventHubsUrl(`${url}&publishPositions=none`), {}).publishPositions).toBe("none");
    expect(resolveEventHubsOptions(parseEventHubsUrl(`${url}&publishPositions=none`), { publishPositions: "exact" }).publishPositions).toBe("exact");
  });

  test("bad URLs and options are INVALID_URL / INVALID_ARGUMENT naming the parameter, never echoing a secret", () => {
    expect(() => parseEventHubsUrl("eventhubs://")).toThrow(expect.objectContaining({ code: "INVALID_URL" }) as unknown as Error);
    expect(() => parseEventHubsUrl("eventhubs://ns/a/b")).toThrow(/one event hub/);
    expect(() => parseEventHubsUrl("eventhubs://ns?nope=1")).toThrow(/unknown parameter "nope"/);
    expect(() => parseEventHubsUrl("eventhubs://ns?updateIntervalMs=-1")).toThrow(/positive integer/);
    expect(() => parseEventHubsUrl("eventhubs://ns?publishPositions=fast")).toThrow(/publishPositions must be exact or none/);
    // @ts-expect-error publishPositions is "exact" | "none"
    expect(() => resolveEventHubsOptions(parseEventHubsUrl(CS), { publishPositions: "fast" })).toThrow(/publishPositions/);
    let message = "";
    try {
      parseEventHubsUrl("eventhubs://ns?sharedAccessKey=topsecret&checkpointStore=disk");
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/checkpointStore must be blob or memory/);
    expect(message).not.toContain("topsecret");
    expect(() => resolveEventHubsOptions(parseEventHubsUrl("eventhubs://ns"), {})).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }) as unknown as Error);
    expect(() => resolveEventHubsOptions(parseEventHubsUrl(CS), { checkpointStore: "blob" })).toThrow(/blobConnectionString and container/);
    expect(() => resolveEventHubsOptions(parseEventHubsUrl(`eventhubs://?connectionString=${encodeURIComponent(`${CS};EntityPath=a`)}`), { hub: "b" })).toThrow(/EntityPath "a"/);
    expect(() => resolveEventHubsOptions(parseEventHubsUrl(CS), { updateIntervalMs: 5000, ownershipExpirationMs: 4000 })).toThrow(/less than ownershipExpirationMs/);
  });
});

describe("Event Hubs errors", () => {
  test("SDK error codes map to Brook codes with the SDK error as cause", () => {
    const cases: Array<[string, string, boolean]> = [
      ["MessagingEntityNotFoundError", "TOPIC_NOT_FOUND", false],
      ["ServerBusyError", "THROTTLED", true],
      ["QuotaExceededError", "THROTTLED", true],
      ["UnauthorizedError", "UNAUTHENTICATED", false],
      ["MessageTooLargeError", "MESSAGE_TOO_LARGE", false],
      ["ReceiverDisconnectedError", "UNAVAILABLE", true],
      ["OperationTimeoutError", "TIMEOUT", true],
    ];
    for (const [sdk, brook, retriable] of cases) {
      const cause = Object.assign(new Error("boom"), { name: "MessagingError", code: sdk });
      const e = toEventHubsBrookError(cause, "publish");
      expect([sdk, e.code, e.retriable, e.cause]).toEqual([sdk, brook, retriable, cause]);
      expect(e.message).toContain(sdk);
    }
    expect(toEventHubsBrookError(Object.assign(new Error("x"), { retryable: true }), "op").code).toBe("UNAVAILABLE");
    expect(toEventHubsBrookError(Object.assign(new Error("x"), { statusCode: 403 }), "op").code).toBe("PERMISSION_DENIED");
  });
});

describe("start positions", () => {
  test("startFrom becomes one SDK position per partition (unlisted partitions of { positions } start at the end)", () => {
    expect(startPositionsFor("earliest", ["0", "1"])).toEqual({ "0": { offset: "-1" }, "1": { offset: "-1" } });
    expect(startPositionsFor("latest", ["0"])).toEqual({ "0": { offset: "@latest" } });
    const time = new Date(0);
    expect(startPositionsFor({ time }, ["0"])).toEqual({ "0": { enqueuedOn: time } });
    expect(startPositionsFor({ positions: [{ partition: "1", offset: "7" }] }, ["0", "1"])).toEqual({ "0": { offset: "@latest" }, "1": { sequenceNumber: 7, isInclusive: true } });
  });
});
