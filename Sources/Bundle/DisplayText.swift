import Foundation

extension String {
    /// The text with every character that could forge a line or move a terminal's cursor shown
    /// as an escape: `\n`, `\r`, `\t`, `\0` and `\u{1b}`-style escapes for the other C0 and C1
    /// controls, DEL, the Unicode line and paragraph separators and the bidirectional
    /// overrides (which can make a name read backwards). Everything else is left as it is.
    ///
    /// For every user-supplied string (a dropped file's name, an error naming a bundle member)
    /// that reaches a log line, STATUS=, a table on the terminal or a report page; JSON output
    /// carries the exact string instead.
    public var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
        var result = ""
        result.reserveCapacity(utf8.count + 8)
        for scalar in unicodeScalars {
            guard Self.needsEscape(scalar) else {
                result.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\0": result += "\\0"
            default: result += "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        }
        return result
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true  // C0, DEL, C1
        case 0x2028, 0x2029: return true  // line and paragraph separators
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidirectional marks, embeddings, overrides, isolates
        default: return false
        }
    }
}
