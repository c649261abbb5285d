export * from './nats/subjects';
export * from './nats/chat.schema';
export * from './nats/codec.util';
export * from './metagraph/metagraph.schema';
export * as minerV1 from './generated/chattensor/miner/v1/miner';
export * from './metagraph/metagraph.watcher';
export * from './grpc/miner-auth';
export * from './metagraph/announce.util';
export * from './metagraph/announcer';
