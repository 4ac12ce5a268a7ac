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
        let reader = try GzipReader(data: data, name: file, limit: limit, limitRule: limitRule)
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { return output }
            output.append(contentsOf: buffer[0..<n])
        }
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
