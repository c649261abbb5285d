import { StreamPrompting, streamPromptingToChat } from './stream-prompting';
import { synapseBodyHash, synapseBodyHashOfJson, synapseToHeaders, terminalFromHeaders, terminalToHeaders, type TerminalInfo } from './synapse';

describe('synapse body hash', () => {
  it('matches Synapse.body_hash of the Python SDK for StreamPrompting', () => {
    // Values computed by bittensor 10.5.0 for the same synapse.
    const fields = { roles: ['system', 'user'], messages: ['You are terse.', 'What\'s "up"? ünï 🚀\n'] };
    expect(synapseBodyHash(StreamPrompting.requiredHashFields, fields)).toBe('533d33ddf2af4f6f1b57bf40c084aa204a8bd6e077b3f1d58fbfcb9d7739c992');
    expect(synapseBodyHash(StreamPrompting.requiredHashFields, { roles: [], messages: [] })).toBe('a8ea28e4d52d34cdb5899a7d172856e378d786898fd92d0af8659a25bbee7098');
  });

  it('computes the same hash from the raw JSON body an axon receives', () => {
    const body = '{"name": "StreamPrompting", "roles": ["system", "user"], "messages": ["You are terse.", "What\'s \\"up\\"? \\u00fcn\\u00ef \\ud83d\\ude80\\n"]}';
    expect(synapseBodyHashOfJson(StreamPrompting.requiredHashFields, body)).toBe('533d33ddf2af4f6f1b57bf40c084aa204a8bd6e077b3f1d58fbfcb9d7739c992');
  });
});

describe('synapse headers', () => {
  const dendrite: TerminalInfo = { ip: '10.0.0.1', version: 10005000, nonce: 1795622265600627157n, uuid: 'u-1', hotkey: '5Grw', signature: '0xabc' };

  it('writes what Synapse.to_headers() writes, in its order', () => {
    const headers = synapseToHeaders({
      name: 'StreamPrompting',
      timeoutSeconds: 12,
      axon: { ip: '127.0.0.1', port: 8091, hotkey: '5FHn' },
      dendrite,
      requiredFields: StreamPrompting.requiredFields,
      totalSize: 10,
      bodyHash: 'h',
    });
    expect(Object.keys(headers)).toEqual([
      'name',
      'timeout',
      'bt_header_axon_ip',
      'bt_header_axon_port',
      'bt_header_axon_hotkey',
      'bt_header_dendrite_ip',
      'bt_header_dendrite_version',
      'bt_header_dendrite_nonce',
      'bt_header_dendrite_uuid',
      'bt_header_dendrite_hotkey',
      'bt_header_dendrite_signature',
      'bt_header_input_obj_roles',
      'bt_header_input_obj_messages',
      'header_size',
      'total_size',
      'computed_body_hash',
    ]);
    expect(headers.timeout).toBe('12.0');
    expect(headers.bt_header_input_obj_messages).toBe('W10=');
    expect(headers.bt_header_dendrite_nonce).toBe('1795622265600627157');
  });

  it('reads terminal info back with exact nanosecond nonces and float process times', () => {
    const headers = terminalToHeaders('bt_header_dendrite_', { ...dendrite, processTime: 0.25, statusCode: 200 });
    expect(terminalFromHeaders('bt_header_dendrite_', headers)).toEqual({ ...dendrite, processTime: 0.25, statusCode: 200 });
  });

  it('refuses a terminal header that is not a number where the SDK casts one', () => {
    expect(() => terminalFromHeaders('bt_header_dendrite_', { bt_header_dendrite_nonce: '12abc' })).toThrow(/not an integer/);
  });
});

describe('streamPromptingToChat', () => {
  it('pairs roles with messages and maps the sampling fields', () => {
    expect(streamPromptingToChat({ roles: ['system', 'user'], messages: ['s', 'u'], completion: '', max_tokens: 8, top_p: 0.9 })).toEqual({
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: 'u' },
      ],
      sampling: { maxTokens: 8, topP: 0.9 },
    });
  });

  it('rejects unknown roles and unpaired lists with a 400', () => {
    expect(() => streamPromptingToChat({ roles: ['tool'], messages: ['x'], completion: '' })).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => streamPromptingToChat({ roles: ['user'], messages: [], completion: '' })).toThrow(expect.objectContaining({ status: 400 }));
  });
});
