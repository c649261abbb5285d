export * from './reward';
export * from './verified-reward';
