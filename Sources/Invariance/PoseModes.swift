import Foundation
import NN

/// The forms within each group, found with the alignment inside the clustering
/// (transformation-invariant clustering: Frey and Jojic, "Transformation-invariant clustering
/// using the EM algorithm", 2003). A group whose images share no one form (digits labelled by
/// their pose) congeals to a blur, and aligning a 7 to a blur of every digit reads the digits'
/// differences as poses. Here each image goes to the mode whose template it meets best *after
/// its own alignment to that template*, and each template is the mean of its members so
/// aligned: every mode is met at every pose, so what separates the modes is what an alignment
/// cannot undo, the form. Modes whose templates differ by little more than a pose's traces (the
/// frame's cut, the interpolation's blur) are one form and are merged again. Only groups found
/// without one form are split (`SpreadEstimator`, `noOneForm`): a class of one form in many
/// poses split so is sorted partly by its poses, since an alignment that falls short of a far
/// pose leaves a residual that grows with it (docs/performance.md, "Forms within a class").
struct PoseModes {
    /// A group is split into at most one mode per this many images (at least two modes, or none),
    /// and at most `maxModes`. MNIST's ten digits need about two modes each: with ten modes to
    /// a class of 500 (one per 40 images, at most ten), the pose cases split read up to 28% wide,
    /// each form mixing kinds a little; with twenty, pose-translate_x-2px +0.3% (was +10%),
    /// pose-rotation-15 −2% (+9%, +20%), pose-shear +3% and 0% (+14%, +13%); the angle regression's
    /// digits, turned upright and split as one set of 1,000, read stretch +10% and +22% over
    /// MNIST's own (+33%, +40% with ten). Forms found without labels still mix kinds a little:
    /// MNIST so read (its labels set aside) has stretch and shear 10–21% over its reading by
    /// digit (docs/performance.md, "Twenty forms a class"). Each mode costs an alignment a round.
    var imagesPerMode = 25
    var maxModes = 20
    /// Rounds of alignment to every mode, assignment and templates after the first modes.
    var rounds = 3
    /// The images are compared blurred by this (pixels): the alignment's coarsest level.
    var blur: Float = 2
    /// Alignment steps of each image to each mode's template per round.
    var steps = 50
    /// A mode left with fewer images than this is dropped, its images given to their next best
    /// (and, before the last round, it is seeded again where its group fits worst).
    var smallestMode = 8
    /// The first modes: k-means++ and Lloyd's rounds on the group's images as its own
    /// alignment left them, the best of `restarts` runs.
    var restarts = 8
    var lloydRounds = 5
    /// Two modes are one form when their templates, aligned together, differ by less than this
    /// fraction of their squared values. Measured (blurred 2 px): the same shape split by its
    /// poses' traces 0.001–0.008 (spots shifted ±3 px, letters turned ±15°, the sprites 0.000);
    /// different letters 0.085–0.26; MNIST's styles within a digit 0.07–0.19; the digits of a
    /// class labelled by pose 0.05–0.30.
    var sameForm: Float = 0.02
    /// A group is split only when its images come no nearer its own form than the whole set's
    /// within this (`SymmetrySpread.Estimate.formFits` above it). Measured (docs/performance.md,
    /// "Fidelity"): labels by rotation or translation pose and regression deciles 0.98–1.02, by
    /// shear pose 0.96–1.01; MNIST's digits 0.16–0.92, Fashion-MNIST's 0.22–0.90, 6s and 9s
    /// turned ±45° mostly 0.93–0.95 (the mirrors' own line, 0.95, would split them by a hair's
    /// margin) but once in six seeds 1.02 (split, it read ±45.4°, as whole ±45–50°): no line
    /// separates them. With twenty forms a class the shear pose cases' misses are the classes
    /// left whole at 0.96 (with both split they read +3% and 0%); they are split now by their
    /// aligned form fit (`alignedNoOneForm`).
    static let noOneForm: Float = 0.97
    /// The aligned form fit (`alignedFormFits`) from which a group has no one form once sizes,
    /// aspects and slants are aligned away. Labels by a size, an aspect or a slant leave each
    /// class nearer its own size, aspect or slant than the whole set's blend, and the mirrors'
    /// fit, which centres each image but keeps those, reads such classes as forms: 0.19–0.82
    /// (size), 0.79–0.94 (aspect), 0.96 (slant: the shear classes twenty forms left whole).
    /// When every group's aligned fit is at least this (and no group is spread over the whole
    /// circle, `PoseAlignment.Templates.round`), every group is split; otherwise a group is
    /// split when it is and its form fit is over `nearlyNoOneForm`. Measured (`bench
    /// fidelity`, seeds 0 and 1): labels by pose 0.91–1.01 (shear 0.91–1.00, stretch 0.93–0.98,
    /// scale ×1.1 0.92–1.01; but scale ×1.2 0.68–0.90, left whole: one coarse level does not
    /// bring digits ×1.44 apart to one size), regression deciles 0.92–1.01; every MNIST digit
    /// 0.31–0.88 (the sources, and digits scaled, stretched, sheared, moved); 6s and 9s turned
    /// ±45° 0.70–0.83 (form fits 0.94–0.95); Fashion-MNIST's garments up to 1.12 (T-shirts and
    /// shirts: a blur of every garment met at each one's size explains a shirt as well as the
    /// shirts' own template), but never every class (sandals and bags 0.28–0.55), and no
    /// garment's form fit has been seen over `nearlyNoOneForm` (0.22–0.90).
    static let alignedNoOneForm: Float = 0.9
    static let nearlyNoOneForm: Float = 0.92

    /// Alignment steps `alignedFormFits` takes.
    var alignedFormFitSteps: Int { steps }

    /// Alignment steps `split` takes, at most, for groups of these sizes (each split group's
    /// modes aligned together at the end included).
    func steps(groupSizes: [Int]) -> Int {
        let modes = groupSizes.map { min(maxModes, $0 / imagesPerMode) }.filter { $0 >= 2 }
        return rounds * (modes.max() ?? 0) * steps + modes.count * steps
    }

    /// Splits each group of `groups` (except those in `whole`) into its forms; returns each
    /// image's form as a group id, `group · maxModes + mode` (a group left whole: mode 0).
    /// `epsilon` is each image's pose within its group (`PoseAlignment.align`), where the
    /// first modes are seeded. `progress` hears each alignment step.
    func split(_ images: [Float], channels: Int, height: Int, width: Int, groups: [Int], epsilon: [[Float]], whole: Set<Int>,
               alignment: PoseAlignment, random: inout RandomGenerator, progress: () throws -> Void = {}) rethrows -> [Int] {
        let n = groups.count, plane = channels * height * width
        let blurred = PoseAlignment.blur(images, planes: n * channels, height: height, width: width, sigma: blur)
        let members = Dictionary(grouping: 0..<n) { groups[$0] }
        var mode = [Int](repeating: 0, count: n)
        // templates[g][m]: mode m's template of group g (blurred).
        var templates = firstModes(AffineAugmentation.warped(blurred, channels: channels, height: height, width: width, epsilon: epsilon.flatMap { $0 }),
                                   plane: plane, members: members.filter { !whole.contains($0.key) }, mode: &mode, random: &random)
        guard !templates.isEmpty else { return groups.map { $0 * maxModes } }
        var coarse = alignment
        (coarse.blurs, coarse.stepsPerLevel, coarse.turnStep) = ([blur], steps, 0)
        let split = templates.keys.sorted().flatMap { members[$0]! }
        for round in 0..<rounds {
            // Every image of a split group aligned to every mode of its group, one mode index at a
            // time, each from no move. (From its pose in its group instead, digits labelled by
            // their pose read ±58°, against ±42° from no move and ±39° true: that pose is the
            // blend's misreading.)
            // Each image's fit to each mode keeps its move, not its aligned image (N × K moves
            // rather than N × K planes); the chosen ones are warped again below.
            var fits: [Int: [Fit]] = [:]
            for m in 0..<maxModes {
                let chosen = split.filter { templates[groups[$0]]!.count > m }
                guard !chosen.isEmpty else { break }
                let given = templates.filter { $0.value.count > m }.mapValues { $0[m] }
                let moved = try coarse.align(chosen.flatMap { images[($0 * plane)..<($0 * plane + plane)] }, channels: channels, height: height,
                                             width: width, groups: chosen.map { groups[$0] }, templates: PoseAlignment.Templates(levels: [given]),
                                             progress: progress).epsilon
                let aligned = AffineAugmentation.warped(chosen.flatMap { blurred[($0 * plane)..<($0 * plane + plane)] }, channels: channels,
                                                        height: height, width: width, epsilon: moved.flatMap { $0 })
                for (j, i) in chosen.enumerated() {
                    fits[i, default: []].append(Fit(mode: m, distance: Self.distance(aligned, j, given[groups[i]]!, plane: plane), epsilon: moved[j]))
                }
            }
            // The images `indices` of `blurred`, each as its fit aligned it.
            let aligned = { (indices: [Int], fits: [Fit]) -> [Float] in
                AffineAugmentation.warped(indices.flatMap { blurred[($0 * plane)..<($0 * plane + plane)] }, channels: channels,
                                          height: height, width: width, epsilon: fits.flatMap(\.epsilon))
            }
            let best = fits.mapValues { all in all.min { $0.distance < $1.distance }! }
            for g in templates.keys {
                let indices = members[g]!
                var counts = [Int](repeating: 0, count: templates[g]!.count)
                for i in indices { counts[best[i]!.mode] += 1 }
                // Modes left with too few images give them to their next best; the others are
                // numbered again from 0, each template its members' mean as aligned to it.
                let kept = counts.indices.filter { counts[$0] >= smallestMode }
                let number = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1, $0) })
                var sums = [[Float]](repeating: [Float](repeating: 0, count: plane), count: max(1, kept.count))
                var sizes = [Int](repeating: 0, count: sums.count)
                let chosenFits = indices.map { i in kept.isEmpty ? fits[i]![0] : fits[i]!.filter { number[$0.mode] != nil }.min { $0.distance < $1.distance }! }
                let warped = aligned(indices, chosenFits)
                for (j, i) in indices.enumerated() {
                    mode[i] = number[chosenFits[j].mode] ?? 0
                    sizes[mode[i]] += 1
                    for k in 0..<plane { sums[mode[i]][k] += warped[j * plane + k] }
                }
                templates[g] = sums.indices.map { m in sums[m].map { $0 / Float(max(1, sizes[m])) } }
                // Before the last round, a mode dropped is seeded again at the image that fits its
                // mode worst: a template that blends two forms is met equally well by both, and only
                // a new seed splits it.
                guard round < rounds - 1 else { continue }
                let wanted = min(maxModes, indices.count / imagesPerMode)
                for worst in indices.sorted(by: { best[$0]!.distance > best[$1]!.distance }).prefix(max(0, wanted - templates[g]!.count)) {
                    templates[g]!.append(aligned([worst], [best[worst]!]))
                }
            }
        }
        for (g, modes) in templates where modes.count > 1 {
            let form = try sameForms(modes, channels: channels, height: height, width: width, alignment: coarse, progress: progress)
            for i in members[g]! { mode[i] = form[mode[i]] }
        }
        return groups.indices.map { groups[$0] * maxModes + mode[$0] }
    }

    /// One image's fit to one mode: the squared distance at its best pose there, and that pose's
    /// move (the alignment's ε).
    private struct Fit { var mode: Int, distance: Float, epsilon: [Float] }

    /// The first modes of each group in `members` with at least two modes' images: k-means++
    /// seeds and Lloyd's rounds on `aligned` (each image as its group's alignment left it), the
    /// run of least squared distance to its centres out of `restarts`. Sets `mode`; returns the
    /// centres by group.
    private func firstModes(_ aligned: [Float], plane: Int, members: [Int: [Int]], mode: inout [Int],
                            random: inout RandomGenerator) -> [Int: [[Float]]] {
        var templates: [Int: [[Float]]] = [:]
        let image = { (i: Int) in Array(aligned[(i * plane)..<(i * plane + plane)]) }
        for (g, indices) in members.sorted(by: { $0.key < $1.key }) {
            let k = min(maxModes, indices.count / imagesPerMode)
            guard k >= 2 else { continue }
            var chosen: (centres: [[Float]], assigned: [Int], cost: Float)? = nil
            for _ in 0..<restarts {
                var centres = [image(indices[random.nextInt(below: indices.count)])]
                var nearest = indices.map { Self.distance(aligned, $0, centres[0], plane: plane) }
                while centres.count < k {
                    var r = random.nextFloat() * nearest.reduce(0, +), pick = indices.count - 1
                    for (j, d) in nearest.enumerated() { r -= d; if r <= 0 { pick = j; break } }
                    centres.append(image(indices[pick]))
                    for (j, i) in indices.enumerated() { nearest[j] = min(nearest[j], Self.distance(aligned, i, centres.last!, plane: plane)) }
                }
                var assigned = [Int](repeating: 0, count: indices.count), cost: Float = 0
                for _ in 0..<lloydRounds {
                    cost = 0
                    var sums = [[Float]](repeating: [Float](repeating: 0, count: plane), count: k), sizes = [Int](repeating: 0, count: k)
                    for (j, i) in indices.enumerated() {
                        let d = centres.map { Self.distance(aligned, i, $0, plane: plane) }
                        assigned[j] = d.indices.min { d[$0] < d[$1] }!
                        cost += d[assigned[j]]
                        sizes[assigned[j]] += 1
                        for p in 0..<plane { sums[assigned[j]][p] += aligned[i * plane + p] }
                    }
                    centres = sums.indices.map { m in sums[m].map { $0 / Float(max(1, sizes[m])) } }
                }
                if chosen == nil || cost < chosen!.cost { chosen = (centres, assigned, cost) }
            }
            for (j, i) in indices.enumerated() { mode[i] = chosen!.assigned[j] }
            templates[g] = chosen!.centres
        }
        return templates
    }

    /// For each of a group's mode templates, the form it belongs to (0, 1, …): two templates are
    /// one form when, congealed together, they differ by less than `sameForm` of their squared
    /// values (single linkage).
    private func sameForms(_ templates: [[Float]], channels: Int, height: Int, width: Int, alignment: PoseAlignment,
                           progress: () throws -> Void) rethrows -> [Int] {
        let plane = channels * height * width
        var pairs: [(Int, Int)] = [], images: [Float] = [], groups: [Int] = []
        for a in templates.indices { for b in templates.indices where b > a {
            images += templates[a] + templates[b]
            groups += [pairs.count, pairs.count]
            pairs.append((a, b))
        } }
        var together = alignment
        together.blurs = [0]   // the templates are blurred already
        let moved = try together.align(images, channels: channels, height: height, width: width, groups: groups, progress: progress).epsilon
        let aligned = AffineAugmentation.warped(images, channels: channels, height: height, width: width, epsilon: moved.flatMap { $0 })
        var parent = Array(templates.indices)
        func root(_ x: Int) -> Int { parent[x] == x ? x : root(parent[x]) }
        for (p, (a, b)) in pairs.enumerated() {
            let apart = Self.distance(aligned, 2 * p, Array(aligned[((2 * p + 1) * plane)..<((2 * p + 2) * plane)]), plane: plane)
            let size = zip(templates[a], templates[b]).reduce(Float(0)) { $0 + 0.5 * ($1.0 * $1.0 + $1.1 * $1.1) }
            if apart < sameForm * size { parent[root(b)] = root(a) }
        }
        let roots = Array(Set(templates.indices.map(root))).sorted()
        return templates.indices.map { roots.firstIndex(of: root($0))! }
    }

    /// Each group's aligned form fit: how near its images come to its own template against the
    /// whole set's, both found by one coarse congealing (blurred `blur`, no turn search) with
    /// every generator of `alignment` (sizes, aspects and slants aligned away too), each template
    /// met at each image's own pose; the sums of the images' squared distances, each taken as if
    /// the image were left out of the template's mean. A group that mixes forms (digits
    /// labelled by their pose, size or aspect) comes near 1: aligned, its template is the same
    /// blur as the whole set's.
    func alignedFormFits(_ images: [Float], channels: Int, height: Int, width: Int, groups: [Int], alignment: PoseAlignment,
                         progress: () throws -> Void = {}) rethrows -> [Int: Float] {
        let n = groups.count, plane = channels * height * width
        guard n > 1 else { return [:] }
        let whole = (groups.max() ?? 0) + 1
        var coarse = alignment
        (coarse.blurs, coarse.stepsPerLevel, coarse.turnStep) = ([blur], steps, 0)
        // Each group congealed apart, and the whole set as one more group.
        let both = groups + [Int](repeating: whole, count: n)
        let (moved, templates) = try coarse.align(images + images, channels: channels, height: height, width: width, groups: both, progress: progress)
        let blurred = PoseAlignment.blur(images, planes: n * channels, height: height, width: width, sigma: blur)
        // Each template put back at each image's pose (a move ε is undone by −ε), so that both are
        // measured in the image's own frame: aligned, an image shrunk or cut by the frame loses
        // what the template does not explain (Fashion-MNIST's shirts read 1.28 so).
        let placed = AffineAugmentation.warped(both.flatMap { templates.levels[0][$0]! }, channels: channels, height: height, width: width,
                                               epsilon: moved.flatMap { $0.map { -$0 } })
        let sizes = Dictionary(grouping: both, by: { $0 }).mapValues(\.count)
        // An image's distance to its group's mean of m images, itself left out: (m / (m − 1))² as far.
        let leftOut = { (g: Int) -> Float in let m = Float(sizes[g]!); return m > 1 ? (m / (m - 1)) * (m / (m - 1)) : 1 }
        var own: [Int: Float] = [:], wholeSet: [Int: Float] = [:]
        for i in 0..<n {
            let g = groups[i], image = Array(blurred[(i * plane)..<(i * plane + plane)])
            own[g, default: 0] += leftOut(g) * Self.distance(placed, i, image, plane: plane)
            wholeSet[g, default: 0] += leftOut(whole) * Self.distance(placed, n + i, image, plane: plane)
        }
        return own.reduce(into: [:]) { $0[$1.key] = $1.value / max(Float.leastNormalMagnitude, wholeSet[$1.key]!) }
    }

    /// The squared distance of image `i` of `values` to `template`.
    static func distance(_ values: [Float], _ i: Int, _ template: [Float], plane: Int) -> Float {
        var sum: Float = 0
        for k in 0..<plane { let d = values[i * plane + k] - template[k]; sum += d * d }
        return sum
    }
}
