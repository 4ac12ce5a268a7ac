import Foundation

/// A strict JSON reader (RFC 8259) for manifests: UTF-8 only, no duplicate keys, nesting at
/// most `maxDepth` deep, numbers finite, and every error a sentence with the line and column
/// and the rule (depth, duplicate key, number, encoding, syntax). Values come back as
/// [String: Any], [Any], String, Bool, `StrictJSON.Number` (its literal kept, so "1" and "1.5"
/// and "1e0" can be told apart) and NSNull.
public enum StrictJSON {
    /// A number as written: its value, and whether the literal was a plain integer.
    public struct Number: Equatable, Sendable, CustomStringConvertible {
        public let literal: String
        public var description: String { literal }
        /// The value (always finite).
        public let value: Double
        /// Written without a fraction or an exponent ("1", not "1.0" or "1e0").
        public var isIntegerLiteral: Bool { !literal.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) }
    }

    /// Why a text is not acceptable JSON.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let line: Int, column: Int, rule: String
        public var description: String { "line \(line), column \(column): \(rule)" }
    }

    /// Parses `data`, which must hold one JSON object.
    public static func parseObject(_ data: Data, maxDepth: Int = 32) throws -> [String: Any] {
        var parser = Parser(bytes: [UInt8](data), maxDepth: maxDepth)
        return try parser.document()
    }

    struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var position = 0

        init(bytes: [UInt8], maxDepth: Int) { (self.bytes, self.maxDepth) = (bytes, maxDepth) }

        func failure(_ rule: String, at offset: Int? = nil) -> Failure {
            let end = min(offset ?? position, bytes.count)
            var line = 1, column = 1
            for byte in bytes[0..<end] {
                if byte == 10 { (line, column) = (line + 1, 1) } else if byte & 0xC0 != 0x80 { column += 1 }
            }
            return Failure(line: line, column: column, rule: rule)
        }

        mutating func document() throws -> [String: Any] {
            guard String(validating: bytes, as: UTF8.self) != nil else {
                let bad = firstInvalidUTF8()
                throw failure("the text is not valid UTF-8 (byte \(bad) of the file) (rule: encoding)", at: bad)
            }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 }
            skipSpace()
            guard peek == UInt8(ascii: "{") else { throw failure("the manifest must be one JSON object, starting with {") }
            let value = try object(depth: 1)
            skipSpace()
            guard position == bytes.count else { throw failure("there is more text after the object's closing }") }
            return value
        }

        func firstInvalidUTF8() -> Int {
            var low = 0, high = bytes.count
            while low < high {  // the shortest prefix that is not valid UTF-8 (a prefix cut inside a character counts as invalid too)
                let middle = (low + high) / 2
                if String(validating: bytes[0...middle], as: UTF8.self) != nil || (middle + 4 < bytes.count && String(validating: bytes[0..<min(bytes.count, middle + 4)], as: UTF8.self) != nil) {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low
        }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipSpace() {
            while let byte = peek, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { position += 1 }
        }

        mutating func expect(_ byte: UInt8, _ what: String) throws {
            skipSpace()
            guard peek == byte else { throw failure("expected \(what)\(peek.map { ", found \(describe($0))" } ?? " before the end of the text")") }
            position += 1
        }

        func describe(_ byte: UInt8) -> String {
            (0x21...0x7E).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : String(format: "byte 0x%02X", byte)
        }

        mutating func value(depth: Int) throws -> Any {
            skipSpace()
            guard let byte = peek else { throw failure("the text ends where a value was expected") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return try string()
            case UInt8(ascii: "t"): return try word("true", true)
            case UInt8(ascii: "f"): return try word("false", false)
            case UInt8(ascii: "n"): return try word("null", NSNull())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw failure("expected a value, found \(describe(byte)) (rule: syntax)")
            }
        }

        mutating func word(_ text: String, _ result: Any) throws -> Any {
            let utf8 = Array(text.utf8)
            guard bytes.count - position >= utf8.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else {
                throw failure("expected \(text) (rule: syntax; NaN and Infinity are not JSON)")
            }
            position += utf8.count
            return result
        }

        mutating func object(depth: Int) throws -> [String: Any] {
            guard depth <= maxDepth else { throw failure("objects and arrays nest more than \(maxDepth) deep (rule: depth)") }
            try expect(UInt8(ascii: "{"), "{")
            var result: [String: Any] = [:]
            skipSpace()
            if peek == UInt8(ascii: "}") { position += 1; return result }
            while true {
                skipSpace()
                let keyStart = position
                guard peek == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes (rule: syntax)") }
                let key = try string()
                guard result[key] == nil else { throw failure("the key \"\(key)\" appears twice in one object (rule: no duplicate keys)", at: keyStart) }
                try expect(UInt8(ascii: ":"), "':' after the key \"\(key)\"")
                result[key] = try value(depth: depth)
                skipSpace()
                if peek == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "}"), "',' or '}'")
                return result
            }
        }

        mutating func array(depth: Int) throws -> [Any] {
            guard depth <= maxDepth else { throw failure("objects and arrays nest more than \(maxDepth) deep (rule: depth)") }
            try expect(UInt8(ascii: "["), "[")
            var result: [Any] = []
            skipSpace()
            if peek == UInt8(ascii: "]") { position += 1; return result }
            while true {
                result.append(try value(depth: depth))
                skipSpace()
                if peek == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "]"), "',' or ']'")
                return result
            }
        }

        mutating func string() throws -> String {
            position += 1  // the opening quote
            var scalars = String.UnicodeScalarView()
            var run = position
            func flush(_ end: Int) {
                if end > run { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
            }
            while true {
                guard let byte = peek else { throw failure("a string is not closed (rule: syntax)") }
                if byte == UInt8(ascii: "\"") {
                    flush(position)
                    position += 1
                    return String(scalars)
                }
                guard byte >= 0x20 else { throw failure("a string holds the control byte \(String(format: "0x%02X", byte)); write it as an escape such as \\n (rule: syntax)") }
                if byte == UInt8(ascii: "\\") {
                    flush(position)
                    position += 1
                    guard let escape = peek else { throw failure("a string ends inside an escape") }
                    position += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{8}")
                    case UInt8(ascii: "f"): scalars.append("\u{c}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                                throw failure("a \\u escape holds half a surrogate pair (rule: encoding)")
                            }
                            position += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw failure("a \\u escape holds half a surrogate pair (rule: encoding)") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = UnicodeScalar(code) else { throw failure("a \\u escape is not a character (rule: encoding)") }
                        scalars.append(scalar)
                    default:
                        throw failure("\\\(describe(escape)) is not a JSON escape (rule: syntax)")
                    }
                    run = position
                    continue
                }
                position += 1
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard bytes.count - position >= 4 else { throw failure("a \\u escape needs four hexadecimal digits") }
            guard let value = UInt32(String(decoding: bytes[position..<(position + 4)], as: UTF8.self), radix: 16) else {
                throw failure("a \\u escape needs four hexadecimal digits")
            }
            position += 4
            return value
        }

        mutating func number() throws -> Number {
            let start = position
            if peek == UInt8(ascii: "-") { position += 1 }
            func digits() -> Int {
                let from = position
                while let byte = peek, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { position += 1 }
                return position - from
            }
            let integerStart = position
            guard digits() > 0 else { throw failure("a number needs digits (rule: number)") }
            if bytes[integerStart] == UInt8(ascii: "0") && position - integerStart > 1 { throw failure("a number has a leading zero (rule: number)", at: integerStart) }
            if peek == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw failure("a number needs digits after its decimal point (rule: number)") }
            }
            if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
                position += 1
                if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw failure("a number needs digits in its exponent (rule: number)") }
            }
            let literal = String(decoding: bytes[start..<position], as: UTF8.self)
            guard position - start <= 64 else { throw failure("the number \(literal.prefix(20))… has more than 64 characters (rule: number)", at: start) }
            guard let value = Double(literal), value.isFinite else { throw failure("the number \(literal) is too large to be finite (rule: number)", at: start) }
            return Number(literal: literal, value: value)
        }
    }
}
