import Foundation

/// A dataset laid out as an unpacked bundle: manifest.json and the files it names, in one
/// folder. Loading reads and validates everything: shapes agree, one target per input, class
/// labels are whole numbers within the classes, no NaN or infinity, test images shaped like
/// training images.
public struct DatasetFolder {
    /// One split's images (N × C × H × W, as stored: bytes stay 0...255) and targets.
    public struct Split: Sendable {
        public var images: [Float]
        public var channels: Int, height: Int, width: Int
        public var targets: [Float]
        public var count: Int { targets.count }
    }

    public let manifest: Manifest
    public let train: Split
    public let test: Split?
    /// Class names (from the manifest, else "0", "1", …); nil for regression.
    public let classes: [String]?

    /// Reads `folder`/manifest.json and the data it names. `reading` hears the path (relative
    /// to `folder`) of each file just before it is read, for progress and for saying where a
    /// crash or a resource limit struck.
    /// - Throws: `BundleError` naming the file, the key or member and the rule.
    /// - Parameters:
    ///   - limits: the caps; a gzip-compressed IDX file may inflate to at most `maxMemberBytes`.
    ///   - displayName: when set (a bundle's name), errors name files as `displayName: member`
    ///     instead of by their path under `folder` (a staging folder).
    ///   - recognisingLayouts: a folder without manifest.json whose layout `bundle pack`
    ///     recognises (`Manifest.recognise`) is read with the manifest it would write. Bundles
    ///     carry their manifest; this is for the command line's folders.
    public static func load(_ folder: URL, limits: BundleLimits = BundleLimits(), displayName: String? = nil, recognisingLayouts: Bool = false,
                            reading: (String) -> Void = { _ in }) throws -> DatasetFolder {
        do {
            return try load(folder, limits: limits, recognisingLayouts: recognisingLayouts, reading: reading)
        } catch let error as BundleError {
            guard let displayName else { throw error }
            throw error.naming(folder: folder.path, as: displayName)
        }
    }

    /// The largest manifest.json read (it is a few hundred bytes in practice).
    public static let maxManifestBytes = 1 << 20
    /// Classes a classification may have when the manifest names none (labels are indices).
    public static let maxClasses = 10_000

    private static func load(_ folder: URL, limits: BundleLimits, recognisingLayouts: Bool, reading: (String) -> Void) throws -> DatasetFolder {
        let manifestURL = folder.appendingPathComponent("manifest.json")
        let manifest: Manifest
        if recognisingLayouts, !FileManager.default.fileExists(atPath: manifestURL.path), let recognised = Manifest.recognise(folder) {
            manifest = recognised
        } else {
            reading("manifest.json")
            let manifestData: Data
            do {
                manifestData = try BoundedFile.read(manifestURL, limit: maxManifestBytes, limitRule: "manifest size cap")
            } catch let error as BundleError {
                if case .data(_, let rule) = error { throw BundleError.manifest(file: manifestURL.path, key: "(root)", rule: rule) }
                let layouts = "MNIST-style IDX files train-images…/train-labels…, or class folders of PNGs train/<class>/*.png"
                throw BundleError.unreadable(file: manifestURL.path, reason: recognisingLayouts
                    ? "no readable manifest.json in \(folder.path), and no layout that `augerino bundle pack` recognises (\(layouts)); write a manifest (docs/bundle-format.md)"
                    : "no readable manifest.json in \(folder.path) (\(error)); a bundle holds manifest.json at its top: `augerino bundle pack FOLDER --out NAME.tar.gz` writes one for \(layouts)")
            }
            manifest = try Manifest.parse(manifestData, file: manifestURL.path)
        }
        var classNames = manifest.classes
        // Every value decoded becomes a float: all splits together may hold at most a quarter
        // of the total size cap in values, so the floats never take more memory than the cap.
        var valuesLeft = max(1, limits.maxTotalBytes / 4)
        func read(_ split: Manifest.Split, _ name: String) throws -> Split {
            // The path rules for every path the manifest names, files and folders alike.
            for (key, path) in [("splits.\(name).inputs", split.inputs), ("splits.\(name).targets", split.targets)] {
                guard let path else { continue }
                _ = try BundleArchive.safePath(path) { rule in
                    BundleError.manifest(file: manifestURL.path, key: key, rule: "must be a relative path inside the bundle: \(rule)")
                }
            }
            let inputFile = folder.appendingPathComponent(split.inputs).path
            let inputs: IDXArray, targets: IDXArray, targetFile: String
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: inputFile, isDirectory: &isFolder), isFolder.boolValue {
                guard manifest.task == .classification else {
                    throw BundleError.manifest(file: manifestURL.path, key: "splits.\(name).inputs", rule: "names a folder of class folders, which only a classification task has")
                }
                (inputs, targets, classNames) = try classFolders(URL(fileURLWithPath: inputFile), classes: classNames, maxValues: valuesLeft, limits: limits) { reading(split.inputs + "/" + $0) }
                targetFile = inputFile
                valuesLeft -= inputs.values.count
            } else {
                guard let targetsPath = split.targets else {
                    throw BundleError.manifest(file: manifestURL.path, key: "splits.\(name).targets", rule: "is required when the inputs are a file")
                }
                reading(split.inputs)
                inputs = try array(folder, split.inputs, key: "splits.\(name).inputs", manifest: manifestURL.path, classes: nil, maxValues: valuesLeft, limits: limits)
                valuesLeft -= inputs.values.count
                reading(targetsPath)
                targets = try array(folder, targetsPath, key: "splits.\(name).targets", manifest: manifestURL.path, classes: classNames, maxValues: valuesLeft, limits: limits)
                valuesLeft -= targets.values.count
                targetFile = folder.appendingPathComponent(targetsPath).path
            }
            let (channels, height, width): (Int, Int, Int)
            switch inputs.shape.count {
            case 3: (channels, height, width) = (1, inputs.shape[1], inputs.shape[2])
            case 4: (channels, height, width) = (inputs.shape[1], inputs.shape[2], inputs.shape[3])
            default: throw BundleError.data(file: inputFile, rule: "inputs must be N×H×W or N×C×H×W images, found shape \(inputs.shape)")
            }
            guard channels >= 1, height >= 2, width >= 2 else { throw BundleError.data(file: inputFile, rule: "images of \(channels)×\(height)×\(width) are too small") }
            guard targets.shape.count == 1 || (targets.shape.count == 2 && targets.shape[1] == 1) else {
                throw BundleError.data(file: targetFile, rule: "targets must be one value per image (shape N or N×1), found \(targets.shape)")
            }
            guard targets.shape[0] == inputs.shape[0] else {
                throw BundleError.data(file: targetFile, rule: "\(targets.shape[0]) targets for \(inputs.shape[0]) images in \(split.inputs)")
            }
            guard inputs.shape[0] > 0 else { throw BundleError.data(file: inputFile, rule: "the \(name) split has no images (rule: splits are not empty)") }
            if let bad = inputs.values.firstIndex(where: { !$0.isFinite }) {
                throw BundleError.data(file: inputFile, rule: "value \(bad) is \(inputs.values[bad]); inputs must be finite")
            }
            if let bad = targets.values.firstIndex(where: { !$0.isFinite }) {
                throw BundleError.data(file: targetFile, rule: "target \(bad) is \(targets.values[bad]); targets must be finite")
            }
            return Split(images: inputs.values, channels: channels, height: height, width: width, targets: targets.values)
        }
        let train = try read(manifest.train, "train")
        let test = try manifest.test.map { try read($0, "test") }
        if let test, (test.channels, test.height, test.width) != (train.channels, train.height, train.width) {
            throw BundleError.data(file: folder.appendingPathComponent(manifest.test!.inputs).path,
                                   rule: "test images are \(test.channels)×\(test.height)×\(test.width), training images \(train.channels)×\(train.height)×\(train.width)")
        }
        var classes: [String]? = nil
        if manifest.task == .classification {
            // Labels are checked as floats before any becomes an Int (1e30 does not fit one), and
            // without a class list they may not imply more than `maxClasses` classes.
            let count = classNames?.count ?? maxClasses
            for (split, file) in [(train, manifest.train.targets ?? manifest.train.inputs), (test, manifest.test.map { $0.targets ?? $0.inputs })] {
                guard let split, let file else { continue }
                if let bad = split.targets.firstIndex(where: { $0 != $0.rounded() || $0 < 0 || $0 >= Float(count) }) {
                    let rule = classNames == nil
                        ? "label \(bad) is \(split.targets[bad]); labels must be class indices from 0 to \(maxClasses - 1) when the manifest names no classes (rule: class count cap; name them in \"classes\")"
                        : "label \(bad) is \(split.targets[bad]); labels must be class indices 0...\(count - 1)"
                    throw BundleError.data(file: folder.appendingPathComponent(file).path, rule: rule)
                }
            }
            let largest = Int(max(train.targets.max() ?? 0, test?.targets.max() ?? 0))
            classes = classNames ?? (0...max(1, largest)).map(String.init)
            guard Set(train.targets).count >= 2 else {
                throw BundleError.data(file: folder.appendingPathComponent(manifest.train.targets ?? manifest.train.inputs).path,
                                       rule: "the training labels hold only one class; classification needs at least two")
            }
        }
        return DatasetFolder(manifest: manifest, train: train, test: test, classes: classes)
    }

    /// Reads one data file named by the manifest, by its name: .npy (NumPy), .csv (a column of
    /// targets under a header row), else IDX (gzip-compressed or not).
    private static func array(_ folder: URL, _ path: String, key: String, manifest: String, classes: [String]?, maxValues: Int, limits: BundleLimits) throws -> IDXArray {
        guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
            throw BundleError.manifest(file: manifest, key: key, rule: "must be a relative path inside the bundle without \"..\" (is \"\(path)\")")
        }
        let url = folder.appendingPathComponent(path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw BundleError.manifest(file: manifest, key: key, rule: "names \"\(path)\", which is not in the bundle")
        }
        let lower = path.lowercased()
        if !lower.hasSuffix(".npy") && !lower.hasSuffix(".csv") {
            return try IDXArray.stream(from: url, limit: limits.maxMemberBytes, maxValues: maxValues)
        }
        let data = try BoundedFile.read(url, limit: limits.maxMemberBytes)
        if lower.hasSuffix(".npy") { return try NPY.parse(data, file: url.path, maxValues: maxValues) }
        return try CSVTargets.parse(data, file: url.path, classes: classes)
    }

    /// PNG images in one folder per class (`<folder>/<class>/*.png`): the class names are the
    /// manifest's (each must have a folder) or the sorted folder names.
    private static func classFolders(_ folder: URL, classes: [String]?, maxValues: Int, limits: BundleLimits, reading: (String) -> Void) throws -> (IDXArray, IDXArray, [String]) {
        let manager = FileManager.default
        let found = try manager.contentsOfDirectory(atPath: folder.path).filter { name in
            var isFolder: ObjCBool = false
            return !name.hasPrefix(".") && manager.fileExists(atPath: folder.appendingPathComponent(name).path, isDirectory: &isFolder) && isFolder.boolValue
        }.sorted()
        let names = classes ?? found
        if let missing = names.first(where: { !found.contains($0) }) {
            throw BundleError.data(file: folder.path, rule: "class \"\(missing)\" has no folder of images")
        }
        if let extra = found.first(where: { !names.contains($0) }) {
            throw BundleError.data(file: folder.appendingPathComponent(extra).path, rule: "this folder is not one of the classes \(names)")
        }
        var images: [Float] = [], labels: [Float] = []
        var shape: (Int, Int, Int)? = nil
        // Every image's header first: their values together must fit what is left to the
        // dataset, before any image is decoded (a folder of small files declaring large images
        // costs nothing), and the array is then allocated once.
        var files: [(label: Int, url: URL, name: String)] = []
        var total = 0
        for (label, name) in names.enumerated() {
            let classFolder = folder.appendingPathComponent(name)
            for file in try manager.contentsOfDirectory(atPath: classFolder.path).filter({ $0.lowercased().hasSuffix(".png") }).sorted() {
                let url = classFolder.appendingPathComponent(file)
                let (channels, height, width) = try PNG.dimensions(of: url)
                total += channels * height * width
                guard total <= maxValues else {
                    throw BundleError.data(file: url.path, rule: "the images so far hold more than the \(maxValues) values left to the dataset (rule: total size cap, counted in values)")
                }
                files.append((label, url, name + "/" + file))
            }
        }
        images.reserveCapacity(total)
        for (label, url, member) in files {
            reading(member)
            let image = try PNG.decode(try BoundedFile.read(url, limit: limits.maxMemberBytes), file: url.path)
            guard images.count + image.values.count <= maxValues else {
                throw BundleError.data(file: url.path, rule: "the images decoded so far hold more than the \(maxValues) values left to the dataset (rule: total size cap, counted in values)")
            }
            if let shape, shape != (image.channels, image.height, image.width) {
                throw BundleError.data(file: url.path, rule: "the image is \(image.channels)×\(image.height)×\(image.width), the others \(shape.0)×\(shape.1)×\(shape.2); all images must have one size")
            }
            shape = (image.channels, image.height, image.width)
            images += image.values
            labels.append(Float(label))
        }
        guard let (c, h, w) = shape else { throw BundleError.data(file: folder.path, rule: "the class folders hold no .png images") }
        return (IDXArray(shape: [labels.count, c, h, w], values: images), IDXArray(shape: [labels.count], values: labels), names)
    }
}
