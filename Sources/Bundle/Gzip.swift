import CZlib
import Foundation

/// gzip (RFC 1952) decompression through the system zlib, strict: every member's CRC-32 and
/// length are checked (zlib does this), members may follow each other, anything else after the
/// last member is an error, and output beyond `limit` bytes stops decompression at once, so a
/// small stream that inflates to gigabytes costs no more than `limit`.
public enum Gzip {
    /// The decompressed bytes of `data`.
    /// - Parameters:
    ///   - file: names the stream in errors.
    ///   - limit: the most output accepted.
    /// - Throws: `BundleError.gzip` naming the rule broken.
    ///   - limitRule: how the limit is described in the error.
    public static func decompress(_ data: Data, file: String, limit: Int = 1 << 30, limitRule: String? = nil) throws -> Data {
        func fail(_ rule: String) -> BundleError { .gzip(file: file, rule: rule) }
        guard data.count >= 2, data[data.startIndex] == 0x1F, data[data.startIndex + 1] == 0x8B else {
            throw fail("it does not start with the gzip magic bytes 1f 8b")
        }
        var output = Data()
        var stream = z_stream()
        // 15 + 16: a gzip wrapper only (no zlib or raw deflate), with the largest window.
        guard inflateInit2_(&stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not start")
        }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            var consumed = 0
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = UInt32(input.count)
            while true {
                let status = buffer.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(chunk)
                    return inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk - Int(stream.avail_out)
                guard output.count + produced <= limit else {
                    throw fail("it decompresses to more than \(limitRule ?? "the \(limit)-byte limit")")
                }
                output.append(contentsOf: buffer[0..<produced])
                consumed = input.count - Int(stream.avail_in)
                switch status {
                case Z_OK:
                    if stream.avail_in == 0 && produced == 0 { throw fail("it is truncated (the last member ends early)") }
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 { throw fail("it is truncated (the last member ends early)") }
                case Z_STREAM_END:
                    guard consumed < input.count else { return }
                    // Another member must follow directly; anything else is trailing garbage.
                    guard input.count - consumed >= 2, input[consumed] == 0x1F, input[consumed + 1] == 0x8B else {
                        throw fail("\(input.count - consumed) bytes follow the last gzip member")
                    }
                    guard inflateReset(&stream) == Z_OK else { throw fail("zlib could not start the next member") }
                case Z_DATA_ERROR:
                    let detail = stream.msg.map { String(cString: $0) } ?? "corrupt data"
                    throw fail("\(detail) at compressed byte \(consumed)")
                case Z_MEM_ERROR:
                    throw fail("zlib ran out of memory")
                default:
                    throw fail("zlib reported error \(status) at compressed byte \(consumed)")
                }
            }
        }
        return output
    }

    /// Compresses `data` as one gzip member (level 6 by default).
    public static func compress(_ data: Data, level: Int32 = 6) -> Data {
        var stream = z_stream()
        precondition(deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                                   Int32(MemoryLayout<z_stream>.size)) == Z_OK, "zlib deflateInit2 failed")
        defer { deflateEnd(&stream) }
        var output = Data()
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = input.isEmpty ? nil : UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress!)
            stream.avail_in = UInt32(input.count)
            var status = Z_OK
            repeat {
                status = buffer.withUnsafeMutableBufferPointer { out -> Int32 in
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(chunk)
                    return deflate(&stream, Z_FINISH)
                }
                output.append(contentsOf: buffer[0..<(chunk - Int(stream.avail_out))])
            } while status == Z_OK
            precondition(status == Z_STREAM_END, "zlib deflate failed with \(status)")
        }
        return output
    }

    /// zlib-format (RFC 1950) compression, as inside PNG files.
    public static func zlibCompress(_ bytes: [UInt8]) -> [UInt8] {
        var length = compressBound(UInt(bytes.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = compress2(&output, &length, bytes, UInt(bytes.count), 6)
        precondition(status == Z_OK, "zlib compress2 failed with \(status)")
        return Array(output.prefix(Int(length)))
    }
}
