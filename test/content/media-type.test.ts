// The one media-type check (RFC 9110 grammar, Latin-1, no control characters) that guards every way in.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CollectionsError, parseCollections } from '../../src/content/collections.ts';
import { mediaTypeProblem } from '../../src/content/media-type.ts';

describe('mediaTypeProblem', () => {
  it('accepts what RFC 9110 calls a media type', () => {
    for (const ok of [
      'text/plain',
      'text/plain; charset=utf-8',
      'application/json;charset=UTF-8',
      'application/vnd.api+json',
      'text/plain ; charset="utf-8"',
      'multipart/form-data; boundary="a b;c\\"d"',
      'text/plain;',
      'text/plain;;charset=x',
      'text/html;\tcharset=latin1',
      'text/plain; title="caf\u00e9"', // obs-text (Latin-1) in a quoted string
      "application/x-!#$%&'*+-.^_`|~; a=b",
    ]) assert.equal(mediaTypeProblem(ok), undefined, ok);
  });

  it('refuses control characters, non-Latin-1 characters and broken grammar, saying what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['text/plain\u0001', /control character \(U\+0001\)/],
      ['text/plain\u0000', /control character \(U\+0000\)/],
      ['text/plain\r\nX-Evil: 1', /control character/],
      ['text/plain\u007f', /control character \(U\+007F\)/],
      ['text/plain; a="\u0085"', /control character \(U\+0085\)/],
      ['application/json; charset=\u201cutf-8\u201d', /U\+201C.*Latin-1/],
      ['text/plain\u20ac', /U\+20AC/],
      ['', /empty/],
      ['text', /expected "\/"/],
      ['/plain', /expected a type/],
      ['text/', /expected a subtype/],
      ['text/plain charset=utf-8', /expected ";"/],
      ['text/plain; charset', /expected "="/],
      ['text/plain; =utf-8', /parameter name/],
      ['text/plain; charset=', /parameter value/],
      ['text/plain; charset="utf-8', /not closed/],
      ['text/plain; charset="utf-8\\', /ends in/],
      ['text/pl@in', /expected ";"/],
      ['text/plain; charset=utf 8', /expected ";"/],
      [`text/${'x'.repeat(1100)}`, /longer than/],
    ];
    for (const [bad, why] of cases) assert.match(mediaTypeProblem(bad) ?? 'accepted', why, JSON.stringify(bad));
  });
});

describe('the collections file', () => {
  it('refuses a contentType or fallbackContentType that is not a media type, naming where', () => {
    for (const [field, value] of [['contentType', 'text/plain\u0001'], ['fallbackContentType', 'application/json; charset=\u201cutf-8\u201d'], ['contentType', 'json']] as const) {
      const doc = { collections: { recs: { fallback: '[]', [field]: value } } };
      assert.throws(() => parseCollections(doc, 1000), (err: Error) => err instanceof CollectionsError && err.message.startsWith(`collections.collections.recs.${field}: not a valid media type`), field);
    }
    assert.equal(parseCollections({ collections: { recs: { contentType: 'application/json; charset=utf-8' } } }, 1000).get('recs')?.contentType, 'application/json; charset=utf-8');
  });
});
