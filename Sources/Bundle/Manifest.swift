import Foundation

/// A bundle's manifest.json (format 1): the task, the splits and their files, and optional
/// classes, input normalisation, augmentation, model and training options. Parsing is strict:
/// an unknown key, a wrong type or a value out of range is an error naming the key and the rule.
/// docs/bundle-format.md documents every key.
public struct Manifest: Equatable, Sendable {
    public enum Task: String, Sendable { case classification, regression }

    public struct Split: Equatable, Sendable {
        /// Path of the inputs file inside the bundle.
        public var inputs: String
        /// Path of the targets file inside the bundle; nil when the inputs are a folder of
        /// class folders (`train/<class>/*.png`), whose names are the labels.
        public var targets: String?

        public init(inputs: String, targets: String?) { (self.inputs, self.targets) = (inputs, targets) }
    }

    public var name: String
    public var task: Task
    public var train: Split
    public var test: Split?
    public var classes: [String]?
    /// Input normalisation; computed from the training split when absent.
    public var inputMean: Float?, inputStd: Float?
    /// Generators to learn (names as in the report): the settings table's `generators`, which
    /// the manifest holds at `augmentation.generators`; and initial full widths.
    public var generators: [String]? {
        get { settings.names(.generators) }
        set { if let newValue { try? settings.set(.generators, .names(newValue)) } else { settings.remove(.generators) } }
    }
    public var initialTheta: [String: Float]
    /// The training settings it gives (its "model" and "training" objects; `TrainingSetting`).
    public var settings = SettingValues()

    /// A manifest with the required parts; set the optional ones afterwards.
    public init(name: String, task: Task, train: Split, test: Split?, initialTheta: [String: Float] = [:]) {
        (self.name, self.task, self.train, self.test, self.initialTheta) = (name, task, train, test, initialTheta)
    }

    /// What `augmentation.generators` and `initial_theta` may name: the six affine generators,
    /// the photometric families, then the mirrors and the transpose (Invariance's
    /// `AffineGenerator`, `PhotometricFamily` and `SymmetryFamily`).
    public static let generatorNames = ["translate_x", "translate_y", "rotation", "scale", "stretch", "shear", "brightness", "contrast", "gamma", "saturation", "hue"]
        + symmetryNames
    /// The families applied with a probability (its `initial_theta` is that probability, at most ½).
    public static let symmetryNames = ["horizontal_flip", "vertical_flip", "transpose"]

    /// Parses and checks manifest.json's bytes; `file` names it in errors.
    /// - Throws: `BundleError.manifest` naming the key and the rule.
    public static func parse(_ data: Data, file: String) throws -> Manifest {
        func fail(_ key: String, _ rule: String) -> BundleError { .manifest(file: file, key: key, rule: rule) }
        let root: [String: Any]
        do { root = try StrictJSON.parseObject(data) } catch let failure as StrictJSON.Failure {
            throw fail("(root)", "is not valid JSON: \(failure.description) (manifest.json is one JSON object in UTF-8, each key once)")
        }
        try checkKeys(root, allowed: ["format", "name", "task", "splits", "classes", "input", "augmentation", "model", "training"], at: "", fail)
        guard let format = root["format"] as? StrictJSON.Number, format.isIntegerLiteral, format.value == 1 else {
            throw fail("format", "must be the whole number 1 (found \(root["format"].map { "\($0)" } ?? "nothing"))")
        }
        guard let name = root["name"] as? String, isSafeName(name) else {
            throw fail("name", "must be 1-100 letters, digits, '.', '_' or '-', not starting with '.'")
        }
        guard let taskName = root["task"] as? String, let task = Task(rawValue: taskName) else {
            throw fail("task", "must be \"classification\" or \"regression\"")
        }
        guard let splits = root["splits"] as? [String: Any] else { throw fail("splits", "must be an object with \"train\" (and optionally \"test\")") }
        try checkKeys(splits, allowed: ["train", "test"], at: "splits.", fail)
        func split(_ key: String) throws -> Split? {
            guard let raw = splits[key] else { return nil }
            guard let object = raw as? [String: Any] else { throw fail("splits.\(key)", "must be an object with \"inputs\" and \"targets\"") }
            try checkKeys(object, allowed: ["inputs", "targets"], at: "splits.\(key).", fail)
            guard let inputs = object["inputs"] as? String, !inputs.isEmpty else { throw fail("splits.\(key).inputs", "must name a file or folder in the bundle") }
            if object["targets"] != nil, (object["targets"] as? String)?.isEmpty != false { throw fail("splits.\(key).targets", "must name a file in the bundle") }
            return Split(inputs: inputs, targets: object["targets"] as? String)
        }
        guard let train = try split("train") else { throw fail("splits.train", "is required") }
        var manifest = Manifest(name: name, task: task, train: train, test: try split("test"))

        if let raw = root["classes"] {
            guard let classes = raw as? [String], classes.count >= 2, Set(classes).count == classes.count else {
                throw fail("classes", "must be a list of at least two distinct names")
            }
            guard task == .classification else { throw fail("classes", "only a classification task has classes") }
            manifest.classes = classes
        }
        if let raw = root["input"] {
            guard let input = raw as? [String: Any] else { throw fail("input", "must be an object with \"mean\" and \"std\"") }
            try checkKeys(input, allowed: ["mean", "std"], at: "input.", fail)
            manifest.inputMean = try number(input["mean"], "input.mean", fail)
            manifest.inputStd = try number(input["std"], "input.std", fail)
            guard manifest.inputMean != nil, let std = manifest.inputStd, std > 0 else { throw fail("input", "needs \"mean\" and a positive \"std\"") }
        }
        if let raw = root["augmentation"] {
            guard let augmentation = raw as? [String: Any] else { throw fail("augmentation", "must be an object") }
            try checkKeys(augmentation, allowed: ["generators", "initial_theta"], at: "augmentation.", fail)
            if let generators = augmentation["generators"] {
                guard let value = TrainingSetting.generators.value(json: generators) else {
                    throw fail("augmentation.generators", TrainingSetting.generators.rule)
                }
                try manifest.settings.set(.generators, value)
            }
            if let initial = augmentation["initial_theta"] {
                guard let map = initial as? [String: Any] else { throw fail("augmentation.initial_theta", "must map generator names to widths") }
                for (key, value) in map {
                    guard generatorNames.contains(key) else { throw fail("augmentation.initial_theta.\(key)", "is not a generator (\(generatorNames.joined(separator: ", ")))") }
                    guard let width = try number(value, "augmentation.initial_theta.\(key)", fail), width > 0, width < 100 else {
                        throw fail("augmentation.initial_theta.\(key)", "must be a width between 0 and 100 (exclusive)")
                    }
                    if symmetryNames.contains(key), width > 0.5 {
                        throw fail("augmentation.initial_theta.\(key)", "is the probability of applying \(key), so it must be above 0 and at most 0.5")
                    }
                    manifest.initialTheta[key] = width
                }
            }
        }
        for section in ["model", "training"] {
            guard let raw = root[section] else { continue }
            guard let object = raw as? [String: Any] else { throw fail(section, "must be an object") }
            let settings = TrainingSetting.inManifest(section)
            try checkKeys(object, allowed: settings.map(\.name), at: "\(section).", fail)
            for setting in settings {
                guard let given = object[setting.name] else { continue }
                guard let value = setting.value(json: given), (try? manifest.settings.set(setting, value)) != nil else {
                    throw fail(setting.manifestKey, setting.rule)
                }
            }
        }
        return manifest
    }

    /// A manifest for a folder without one, when its layout is recognised (nil otherwise):
    /// MNIST-style IDX files (`train-images*` and `train-labels*`, and `t10k-…` or `test-…` for
    /// the test split), or class folders of PNG images (`train/<class>/*.png`, optionally
    /// `test/<class>/*.png`). The name is the folder's; the task is classification.
    public static func recognise(_ folder: URL) -> Manifest? {
        let manager = FileManager.default
        let name = String(folder.standardizedFileURL.lastPathComponent.filter { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }.prefix(100))
        let safeName = name.isEmpty || name.hasPrefix(".") ? "dataset" : name
        let files = ((try? manager.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        func first(_ prefixes: [String], _ part: String) -> String? {
            files.first { file in prefixes.contains { file.hasPrefix($0) } && file.contains(part) }
        }
        if let trainImages = first(["train-images"], "idx"), let trainLabels = first(["train-labels"], "idx") {
            let testImages = first(["t10k-images", "test-images"], "idx"), testLabels = first(["t10k-labels", "test-labels"], "idx")
            let test = testImages.flatMap { images in testLabels.map { Split(inputs: images, targets: $0) } }
            return Manifest(name: safeName, task: .classification, train: Split(inputs: trainImages, targets: trainLabels), test: test)
        }
        func hasClassFolders(_ split: String) -> Bool {
            let url = folder.appendingPathComponent(split)
            let classes = (try? manager.contentsOfDirectory(atPath: url.path)) ?? []
            return classes.contains { name in
                ((try? manager.contentsOfDirectory(atPath: url.appendingPathComponent(name).path)) ?? []).contains { $0.lowercased().hasSuffix(".png") }
            }
        }
        if hasClassFolders("train") {
            return Manifest(name: safeName, task: .classification, train: Split(inputs: "train", targets: nil),
                            test: hasClassFolders("test") ? Split(inputs: "test", targets: nil) : nil)
        }
        return nil
    }

    /// The manifest as JSON (keys sorted), the inverse of `parse`.
    public func encoded() throws -> Data {
        var root: [String: Any] = ["format": 1, "name": name, "task": task.rawValue]
        func entry(_ split: Split) -> [String: Any] { split.targets.map { ["inputs": split.inputs, "targets": $0] } ?? ["inputs": split.inputs] }
        var splits: [String: Any] = ["train": entry(train)]
        if let test { splits["test"] = entry(test) }
        root["splits"] = splits
        if let classes { root["classes"] = classes }
        if let inputMean, let inputStd { root["input"] = ["mean": inputMean, "std": inputStd] }
        var augmentation: [String: Any] = [:]
        if let generators { augmentation["generators"] = generators }
        if !initialTheta.isEmpty { augmentation["initial_theta"] = initialTheta }
        if !augmentation.isEmpty { root["augmentation"] = augmentation }
        for section in ["model", "training"] {
            let object = settings.json(TrainingSetting.inManifest(section))
            if !object.isEmpty { root[section] = object }
        }
        return try JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys])
    }

    private static func checkKeys(_ object: [String: Any], allowed: [String], at prefix: String,
                                  _ fail: (String, String) -> BundleError) throws {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(prefix + unknown, "is not a known key (known here: \(allowed.joined(separator: ", ")))")
        }
    }

    /// A number that is finite as a Float (1e39 is not).
    private static func number(_ value: Any?, _ key: String, _ fail: (String, String) -> BundleError) throws -> Float? {
        guard let value else { return nil }
        guard let number = value as? StrictJSON.Number else { throw fail(key, "must be a number") }
        guard Float(number.value).isFinite else { throw fail(key, "must be a number a float32 can hold (±3.4e38), not \(number.literal)") }
        return Float(number.value)
    }

    private static func integer(_ value: Any?, _ key: String, _ range: ClosedRange<Int>, _ fail: (String, String) -> BundleError) throws -> Int? {
        guard let value else { return nil }
        guard let number = value as? StrictJSON.Number, number.value == number.value.rounded(), abs(number.value) < 9e18,
              range.contains(Int(number.value)) else {
            throw fail(key, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return Int(number.value)
    }

    private static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 100 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) && $0.isASCII || "._-".unicodeScalars.contains($0) }
    }
}
