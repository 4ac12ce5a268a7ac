import Foundation

/// One file of input images for prediction, told apart by its content: PNG (one image,
/// C×H×W), NPY (magic "\x93NUMPY") or IDX (optionally gzip-compressed).
public enum InputFile {
    /// - Throws: `BundleError` naming the file and what is wrong with it.
    public static func read(_ url: URL) throws -> IDXArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw BundleError.unreadable(file: url.path, reason: error.localizedDescription) }
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
            let image = try PNG.decode(data, file: url.path)
            return IDXArray(shape: [image.channels, image.height, image.width], values: image.values)
        }
        if data.starts(with: [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]) { return try NPY.parse(data, file: url.path) }
        return try IDXArray.parse(data, file: url.path)
    }
}
