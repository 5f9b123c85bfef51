export { BrokerEngine } from "./engine.js";
export { ListenError, describeListener } from "./listeners.js";
export { LocalClient } from "./local-client.js";
export { deviceNamespace, devicePrefix, openNamespace, userNamespace, type DeviceNamespaceOptions } from "./namespace.js";
export { UserDirectory } from "./users.js";
export { BrokerRegistry, brokers, type EngineSetup, type SetupErrorHandler } from "./registry.js";
export * from "./types.js";
export { BrokerPubSub, type BrokerPubSubOptions } from "./broker-pubsub.js";
export { acquirePlugin } from "./shared-plugin.js";
