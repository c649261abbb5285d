export * from './reward';
export * from './verified-reward';
export * from './synthetic-questions';
export * from './request-sampling';
export * from './verification-tolerances';
