/**
 * Device provisioning as a device (docs/PROTOCOLS.md 4.3): one exchange on its own MQTT session
 * under the user name `provision`: subscribe `/provision/response`, publish the request on
 * `/provision/request` once connected, take the first answer, close. The codec
 * (codec-session.ts) builds and reads the messages; this only runs the exchange.
 *
 * Decisions: the request goes at QoS 1 and again after a reconnect of the same attempt (only the
 * first answer counts); an attempt ends after `timeoutMs` (the caller retries with a backoff);
 * a refusal (`status` other than SUCCESS) is final and is a TransportError "auth" naming
 * ThingsBoard's `errorMsg`. The provision secret is registered with the redactor first.
 */
import { randomBytes } from "node:crypto";
import { toError, TransportError } from "../transport/errors.js";
import { MqttSession, type MqttSessionOptions, type MqttTlsOptions } from "../transport/mqtt-session.js";
import { Redactor } from "../transport/redact.js";
import {
  connectCredentials, encodeProvisionRequest, LIMITS, parseProvisionResponse, toPayloadText, TOPICS,
  type ProvisionCredentials, type ProvisionRequest,
} from "./codec.js";

/** How long one provisioning attempt waits for its answer by default. */
export const PROVISION_TIMEOUT_MS = 30_000;

/** What a device provisions itself with (the device profile's key and secret). */
export interface TbProvisionSettings {
  deviceName: string;
  key: string;
  secret: string;
  /** ACCESS_TOKEN: ThingsBoard generates the token; MQTT_BASIC: generated here and sent along. */
  credentialsType: "ACCESS_TOKEN" | "MQTT_BASIC";
}

/** The request a device sends: for MQTT_BASIC with fresh random credentials of its own. */
export function provisionRequestOf(settings: TbProvisionSettings): ProvisionRequest {
  const basic = settings.credentialsType === "MQTT_BASIC"
    ? { credentialsType: "MQTT_BASIC", clientId: randomText(), username: randomText(), password: randomText() }
    : {};
  return encodeProvisionRequest({
    deviceName: settings.deviceName,
    provisionDeviceKey: settings.key,
    provisionDeviceSecret: settings.secret,
    ...basic,
  });
}

function randomText(): string {
  return randomBytes(15).toString("base64url");
}

export interface ProvisionOverMqttOptions {
  url: string;
  request: ProvisionRequest;
  redactor: Redactor;
  tls?: MqttTlsOptions;
  timeoutMs?: number;
  mqtt?: Pick<MqttSessionOptions, "reconnect" | "connectTimeoutMs" | "protocolVersion">;
}

/** One provisioning exchange; resolves with the credentials ThingsBoard gave, rejects with a TransportError. */
export async function provisionOverMqtt(o: ProvisionOverMqttOptions): Promise<ProvisionCredentials> {
  o.redactor.add(o.request.provisionDeviceSecret, o.request.password);
  const login = connectCredentials({ type: "provision" });
  // The session's own redactor: it would hide its user name ("provision") in every text, the link's too.
  const redactor = new Redactor().add(o.request.provisionDeviceSecret, o.request.password);
  const session = new MqttSession({
    url: o.url,
    clientId: "",
    ...(login.username === undefined ? {} : { username: login.username }),
    keepaliveSec: 60,
    clean: true,
    maxPayloadBytes: LIMITS.maxPayloadBytes,
    redactor,
    ...(o.tls === undefined ? {} : { tls: o.tls }),
    ...o.mqtt,
  });
  const text = toPayloadText(o.request);
  const ms = o.timeoutMs ?? PROVISION_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ProvisionCredentials>((resolve, reject) => {
      timer = setTimeout(() => {
        reject(new TransportError("timeout", `ThingsBoard did not answer the provisioning request within ${ms / 1000} s (${session.status.reason ?? session.status.state})`));
      }, ms);
      session.on("status", (status) => {
        if (status.state === "auth-failed") reject(new TransportError("auth", `the server refused the provisioning login: ${status.reason ?? "refused"}`, { retryable: false }));
      });
      session.on("connected", () => {
        session.publish(TOPICS.provisionRequest, text, { qos: 1 }).catch((err: unknown) => {
          reject(new TransportError("network", `the provisioning request could not be sent: ${toError(err).message}`));
        });
      });
      session.subscribe(TOPICS.provisionResponse, (message) => {
        try {
          const answer = parseProvisionResponse(message.payload);
          if (answer.ok) resolve(answer.credentials);
          else reject(new TransportError("auth", `ThingsBoard refused to provision "${o.request.deviceName ?? ""}": ${answer.status}${answer.errorMsg === "" ? "" : ` (${answer.errorMsg})`}`, { retryable: false }));
        } catch (err) {
          reject(new TransportError("protocol", `the provisioning response was not understood: ${toError(err).message}`));
        }
      }, { qos: 1 }).catch((err: unknown) => {
        reject(new TransportError("network", `could not subscribe to ${TOPICS.provisionResponse}: ${toError(err).message}`));
      });
      session.start();
    });
  } catch (err) {
    throw o.redactor.redactError(toError(err));
  } finally {
    clearTimeout(timer);
    await session.close().catch(() => undefined);
  }
}
