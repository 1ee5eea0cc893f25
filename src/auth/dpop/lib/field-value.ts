/**
 * True when a DPoP field value holds more than one proof (RFC 9449 section 4.3 check 1).
 * Repeated header fields reach us combined with "," (RFC 9110 section 5.3), and a compact
 * JWS never contains "," or whitespace, so either one means several values (or a broken
 * one, which is denied alike). Leading and trailing whitespace is not part of a field value
 * (RFC 9110 section 5.5) and is trimmed by the caller.
 */
export function holdsSeveralValues(trimmedValue: string): boolean {
  return /[,\s]/.test(trimmedValue);
}
