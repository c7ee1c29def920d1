/**
 * Tag bytes of the value codec. `docs/format/codec.md` is the normative description; a test
 * checks that the tables there match these constants.
 *
 * Every encoded value starts with one tag byte. Ranges carry a small payload in the tag itself
 * (fixint, fixstr, fixarray, fixobject, negative fixint); single tags introduce a body.
 *
 * @module
 */

/** Format version of the value codec (stored by containers such as WAL and snapshot headers). */
export const CODEC_VERSION: number = 1;

/** 0x00–0x7F: the number 0..127 (a float64 with an integer value, not a bigint). */
export const TAG_FIXINT_MAX: number = 0x7f;
/** 0x80–0x9F: a string of 0..31 UTF-8 bytes follows. */
export const TAG_FIXSTR: number = 0x80;
/** 0xA0–0xAF: an array of 0..15 elements follows. */
export const TAG_FIXARRAY: number = 0xa0;
/** 0xB0–0xBF: an object of 0..15 fields follows. */
export const TAG_FIXOBJECT: number = 0xb0;
/** `null`. */
export const TAG_NULL: number = 0xc0;
/** `false`. */
export const TAG_FALSE: number = 0xc1;
/** `true`. */
export const TAG_TRUE: number = 0xc2;
/** A float64, 8 bytes little-endian. */
export const TAG_FLOAT64: number = 0xc3;
/** An integer-valued number with |n| ≤ 2^52: zigzag varuint. */
export const TAG_INT: number = 0xc4;
/** An int64 bigint: zigzag varuint of up to 10 bytes. */
export const TAG_BIGINT: number = 0xc5;
/** A string: varuint byte length, then UTF-8 (WTF-8 for unpaired surrogates). */
export const TAG_STRING: number = 0xc6;
/** A byte array: varuint length, then the bytes. */
export const TAG_BYTES: number = 0xc7;
/** An array: varuint element count, then the elements. */
export const TAG_ARRAY: number = 0xc8;
/** An object: varuint field count, then (key, value) pairs; a key is varuint length + UTF-8. */
export const TAG_OBJECT: number = 0xc9;
/** An Id: collection and docId (each varuint length + UTF-8), then the version as a varuint. */
export const TAG_ID: number = 0xca;
/** 0xE0–0xFF: the number -32..-1. */
export const TAG_NEGFIXINT: number = 0xe0;

/** Largest magnitude stored with `TAG_INT`; larger integers are stored as float64. */
export const INT_TAG_MAX_MAGNITUDE: number = 2 ** 52;
/** Short-form limits carried by the tag byte. */
export const FIXSTR_MAX_BYTES: number = 31;
/** Largest array length carried in the tag byte. */
export const FIXARRAY_MAX: number = 15;
/** Largest object field count carried in the tag byte. */
export const FIXOBJECT_MAX: number = 15;
