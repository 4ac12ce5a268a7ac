import ArgumentParser
import Bundle
import Foundation
import Kernels
import NN

/// `augerino example …`: datasets generated deterministically from a seed, written as bundle
/// folders (manifest.json and IDX files) that `augerino train` reads.
struct Example: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write example datasets with known invariances.",
        subcommands: [ExampleMarioIggy.self, ExampleRotatedMNIST.self, ExampleRotationAngle.self])
}

/// Options shared by the MNIST-based examples.
struct MNISTExampleOptions: ParsableArguments {
    @Option(help: "Folder with MNIST's IDX files (train-*/t10k-*, gzip-compressed or not).")
    var mnist: String = "../shared/data/mnist"

    @Option(help: "Output: a bundle when it ends in .tar.gz or .tgz, else a folder; must not exist yet.")
    var out: String

    @Option(help: "Training images taken from MNIST's training set.")
    var train: Int = 12_000

    @Option(help: "Test images taken from MNIST's test set.")
    var test: Int = 10_000

    @Option(help: "Seed for the rotation angles.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (2...60_000).contains(train) else { throw ValidationError("--train \(train): must be from 2 to 60000") }
        guard (1...10_000).contains(test) else { throw ValidationError("--test \(test): must be from 1 to 10000") }
        try requireNew(out)
    }

    /// The first `count` images (as 0...255 floats) and labels of a split.
    func load(_ prefix: String, count: Int) throws -> (images: [Float], labels: [Float]) {
        try readMNISTStyle(folder: URL(fileURLWithPath: mnist), prefix: prefix, count: count)
    }

    /// Each 28×28 image rotated by its angle (radians), bilinear with zero fill.
    func rotate(_ images: [Float], by angles: [Float]) throws -> [Float] {
        try rotated(images, channels: 1, size: 28, by: angles)
    }

    func write(_ manifest: Manifest, files: [(String, Data)]) throws { try writeDataset(manifest, files: files, to: out) }
}

/// The first `count` images (as 0...255 floats) and labels of an MNIST-style split: files
/// `<prefix>-images-idx3-ubyte` and `<prefix>-labels-idx1-ubyte` in `folder`, gzip-compressed
/// (`.gz`) or not.
func readMNISTStyle(folder: URL, prefix: String, count: Int) throws -> (images: [Float], labels: [Float]) {
    func read(_ name: String) throws -> IDXArray {
        let gz = folder.appendingPathComponent(name + ".gz")
        return try IDXArray.read(from: FileManager.default.fileExists(atPath: gz.path) ? gz : folder.appendingPathComponent(name))
    }
    let images = try read("\(prefix)-images-idx3-ubyte"), labels = try read("\(prefix)-labels-idx1-ubyte")
    guard images.shape.count == 3, images.shape[1] == 28, images.shape[2] == 28, images.shape[0] >= count, labels.shape == [images.shape[0]] else {
        throw ValidationError("\(folder.path): \(prefix) files should hold at least \(count) 28×28 images with labels; found \(images.shape) and \(labels.shape)")
    }
    return (Array(images.values[0..<(count * 784)]), Array(labels.values[0..<count]))
}

/// Each square image ([N, C, size, size]) rotated by its angle (radians) about its centre,
/// bilinear with zero fill.
func rotated(_ images: [Float], channels: Int, size: Int, by angles: [Float]) throws -> [Float] {
    let parallelism = try Parallelism.fromEnvironment()
    let theta: [Float] = angles.flatMap { angle -> [Float] in [cos(angle), -sin(angle), 0, sin(angle), cos(angle), 0] }
    var out = [Float](repeating: 0, count: images.count)
    images.withUnsafeBufferPointer { x in theta.withUnsafeBufferPointer { t in out.withUnsafeMutableBufferPointer { y in
        affineWarpForward(AffineWarpShape(batch: angles.count, channels: channels, height: size, width: size), input: x.baseAddress!,
                          theta: t.baseAddress!, output: y.baseAddress!, parallelism: parallelism)
    } } }
    return out
}

/// Refuses an output that exists, so an example never overwrites anything.
func requireNew(_ out: String) throws {
    guard !FileManager.default.fileExists(atPath: out) else {
        throw ValidationError("--out \(out): already exists; choose a new name so nothing is overwritten")
    }
}

/// Writes IDX files (gzip-compressed) and the manifest as a bundle when `out` ends in .tar.gz
/// or .tgz, else as a new folder.
func writeDataset(_ manifest: Manifest, files: [(String, Data)], to out: String) throws {
    let asBundle = out.hasSuffix(".tar.gz") || out.hasSuffix(".tgz")
    let folder = asBundle ? FileManager.default.temporaryDirectory.appendingPathComponent("augerino-example-\(UUID().uuidString)")
                          : URL(fileURLWithPath: out)
    defer { if asBundle { try? FileManager.default.removeItem(at: folder) } }
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for (name, data) in files { try Gzip.compress(data).write(to: folder.appendingPathComponent(name)) }
    try manifest.encoded().write(to: folder.appendingPathComponent("manifest.json"))
    if asBundle { try BundleArchive.pack(folder, to: URL(fileURLWithPath: out)) }
    print("wrote \(out): \(files.count) data files and manifest.json\(asBundle ? " in a bundle" : "")")
}

/// `augerino example rotmnist`: MNIST digits rotated uniformly over the whole circle.
struct ExampleRotatedMNIST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotmnist",
        abstract: "MNIST rotated by angles uniform in [0, 2π): full rotation invariance is the answer.")

    @OptionGroup var options: MNISTExampleOptions

    func run() throws {
        var random = RandomGenerator(seed: options.seed)
        var files: [(String, Data)] = []
        for (prefix, count, name) in [("train", options.train, "train"), ("t10k", options.test, "test")] {
            let (images, labels) = try options.load(prefix, count: count)
            let rotated = try options.rotate(images, by: (0..<count).map { _ in random.nextFloat() * 2 * .pi })
            files.append(("\(name)-images.idx.gz", IDXArray.encodeBytes(shape: [count, 28, 28], values: rotated)))
            files.append(("\(name)-labels.idx.gz", IDXArray.encodeBytes(shape: [count], values: labels)))
        }
        var manifest = Manifest(name: "rotmnist", task: .classification,
                                train: .init(inputs: "train-images.idx.gz", targets: "train-labels.idx.gz"),
                                test: .init(inputs: "test-images.idx.gz", targets: "test-labels.idx.gz"), initialTheta: [:])
        manifest.classes = (0...9).map(String.init)
        manifest.settings = try SettingValues([.architecture: .choice("smallnet"), .width: .integer(32)])
        try options.write(manifest, files: files)
    }
}

/// `augerino example rotation-angle`: regression of the angle a digit was rotated by.
struct ExampleRotationAngle: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotation-angle",
        abstract: "MNIST digits rotated within ±90°; the target is the angle in radians, so rotation invariance is harmful.")

    @OptionGroup var options: MNISTExampleOptions

    func run() throws {
        var random = RandomGenerator(seed: options.seed)
        var files: [(String, Data)] = []
        for (prefix, count, name) in [("train", options.train, "train"), ("t10k", options.test, "test")] {
            let (images, _) = try options.load(prefix, count: count)
            let angles = (0..<count).map { _ in (random.nextFloat() - 0.5) * .pi }
            files.append(("\(name)-images.idx.gz", IDXArray.encodeBytes(shape: [count, 28, 28], values: try options.rotate(images, by: angles))))
            files.append(("\(name)-angles.idx.gz", IDXArray.encodeFloats(shape: [count], values: angles)))
        }
        var manifest = Manifest(name: "rotation-angle", task: .regression,
                                train: .init(inputs: "train-images.idx.gz", targets: "train-angles.idx.gz"),
                                test: .init(inputs: "test-images.idx.gz", targets: "test-angles.idx.gz"), initialTheta: [:])
        manifest.settings = try SettingValues([.architecture: .choice("smallnet"), .width: .integer(32)])
        try options.write(manifest, files: files)
    }
}

/// `augerino example mario-iggy`: the reference paper's two-sprite task, with two asymmetric
/// sprites drawn by code. Four classes: sprite × {upright (rotated by at most ±45°), upside down
/// (within ±45° of 180°)}; the right answer is rotation invariance of ±45° and nothing else.
struct ExampleMarioIggy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mario-iggy",
        abstract: "Two sprites, upright within ±45° or upside down: learns a rotation range of ±45°.")

    @Option(help: "Output: a bundle when it ends in .tar.gz or .tgz, else a folder; must not exist yet.")
    var out: String

    @Option(help: "Training images.")
    var train: Int = 10_000

    @Option(help: "Test images.")
    var test: Int = 5_000

    @Option(help: "Seed for sprites, classes and angles.")
    var seed: UInt64 = 0

    func validate() throws {
        guard (4...1_000_000).contains(train), (4...1_000_000).contains(test) else {
            throw ValidationError("--train and --test must be from 4 to 1000000")
        }
        try requireNew(out)
    }

    func run() throws {
        var random = RandomGenerator(seed: seed)
        let parallelism = try Parallelism.fromEnvironment()
        var files: [(String, Data)] = []
        for (name, count) in [("train", train), ("test", test)] {
            var images: [Float] = [], labels: [Float] = [], theta: [Float] = []
            for _ in 0..<count {
                let sprite = random.nextInt(below: 2), upsideDown = random.nextInt(below: 2)
                let angle = (random.nextFloat() - 0.5) * .pi / 2 + (upsideDown == 1 ? .pi : 0)
                images += sprite == 0 ? Self.mario : Self.iggy
                labels.append(Float(2 * sprite + upsideDown))
                theta += [cos(angle), -sin(angle), 0, sin(angle), cos(angle), 0]
            }
            var rotated = [Float](repeating: 0, count: images.count)
            images.withUnsafeBufferPointer { x in theta.withUnsafeBufferPointer { t in rotated.withUnsafeMutableBufferPointer { y in
                affineWarpForward(AffineWarpShape(batch: count, channels: 3, height: 32, width: 32), input: x.baseAddress!,
                                  theta: t.baseAddress!, output: y.baseAddress!, parallelism: parallelism)
            } } }
            files.append(("\(name)-images.idx.gz", IDXArray.encodeBytes(shape: [count, 3, 32, 32], values: rotated)))
            files.append(("\(name)-labels.idx.gz", IDXArray.encodeBytes(shape: [count], values: labels)))
        }
        var manifest = Manifest(name: "mario-iggy", task: .classification,
                                train: .init(inputs: "train-images.idx.gz", targets: "train-labels.idx.gz"),
                                test: .init(inputs: "test-images.idx.gz", targets: "test-labels.idx.gz"), initialTheta: [:])
        manifest.classes = ["mario upright", "mario upside down", "iggy upright", "iggy upside down"]
        // No prior widths and no weight: the defaults read the answer (the reference's hand-set
        // initial widths and λ 0.05 would only matter to `--objective reward`).
        manifest.settings = try SettingValues([.architecture: .choice("simpleconv"), .width: .integer(32), .epochs: .integer(20),
                                               .batchSize: .integer(128), .learningRate: .real(0.01)])
        try writeDataset(manifest, files: files, to: out)
    }

    /// A 3×32×32 sprite (0...255 per channel) drawn from rectangles: (top, left, bottom, right, r, g, b).
    static func sprite(_ parts: [(Int, Int, Int, Int, Float, Float, Float)]) -> [Float] {
        var image = [Float](repeating: 0, count: 3 * 32 * 32)
        for (top, left, bottom, right, r, g, b) in parts {
            for row in top..<bottom { for col in left..<right {
                image[row * 32 + col] = r
                image[1024 + row * 32 + col] = g
                image[2048 + row * 32 + col] = b
            } }
        }
        return image
    }

    /// A plumber: cap with a peak to the right, face, moustache, body, one arm raised, boots.
    static let mario = sprite([(5, 10, 9, 21, 220, 30, 30), (7, 21, 9, 25, 220, 30, 30), (9, 11, 16, 20, 250, 200, 150),
                               (13, 14, 15, 21, 90, 50, 20), (16, 9, 24, 22, 40, 60, 220), (12, 22, 20, 25, 220, 30, 30),
                               (24, 9, 27, 14, 120, 70, 30), (24, 17, 27, 23, 120, 70, 30)])
    /// A koopa: head on the left, spiky hair, round shell, tail to the right, feet.
    static let iggy = sprite([(6, 6, 12, 13, 240, 220, 90), (3, 7, 6, 9, 200, 60, 200), (3, 10, 6, 12, 200, 60, 200),
                              (12, 10, 24, 24, 40, 170, 60), (14, 12, 22, 22, 230, 230, 230), (20, 24, 22, 28, 240, 220, 90),
                              (24, 11, 27, 15, 240, 220, 90), (24, 19, 27, 23, 240, 220, 90)])
}
