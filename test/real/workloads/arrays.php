<?php
// arrays.php SCALE: builds and drops large PHP arrays and strings for the real-program tests
// (test/real/realtest.py).
//
// Run as `USE_ZEND_ALLOC=0 php -n arrays.php SCALE`:
//   - USE_ZEND_ALLOC=0 turns off PHP's own memory manager (Zend MM), so every zval, array and
//     string below is a malloc/realloc/free of the C library, or of the preloaded allocator;
//   - -n loads no php.ini and so no shared extensions. Without it, Debian's PHP loads its
//     extensions (pdo.so, ...) with dlopen(RTLD_DEEPBIND), which makes each extension bind `free`
//     to the C library's own free instead of the preloaded one; the first string that PHP
//     allocates and an extension frees then crashes in glibc's free(). That happens with every
//     preloaded allocator (jemalloc as well) and is a PHP defect, not an allocator one. See
//     docs/real-programs.md.
// Each phase prints counts and a SHA-256 prefix; the output depends on SCALE only.

$scale = isset($argv[1]) ? (int)$argv[1] : 200000;

function report(...$fields) { echo implode(' ', $fields), "\n"; }
function digest($s) { return substr(hash('sha256', $s), 0, 16); }

// hash: string keys to arrays, half unset, refilled.
$h = [];
for ($i = 0; $i < $scale; $i++) {
    $h["key$i"] = [$i, str_repeat('v', $i % 23), ['n' => $i]];
}
for ($i = 0; $i < $scale; $i += 2) {
    unset($h["key$i"]);
}
for ($i = 0; $i < intdiv($scale, 2); $i++) {
    $h["new$i"] = implode(',', range(0, $i % 17));
}
ksort($h, SORT_STRING);
$total = 0;
foreach ($h as $v) {
    $total += is_array($v) ? $v[0] + strlen($v[1]) : strlen($v);
}
$keys = array_keys($h);
$sample = [];
for ($i = 0; $i < count($keys); $i += 1000) {
    $sample[] = $keys[$i];
}
report('hash', count($h), $total, digest(implode('|', $sample)));
unset($h, $keys, $sample);

// array: sorting, slicing, mapping, merging.
$a = [];
for ($i = 0; $i < $scale; $i++) {
    $a[] = [$i * 7919 % $scale, "item$i"];
}
usort($a, function ($x, $y) { return $x[0] <=> $y[0] ?: strcmp($x[1], $y[1]); });
$cut = array_slice($a, intdiv($scale, 4), intdiv($scale, 2));
$strs = array_map(function ($p) { return $p[1] . ':' . $p[0]; }, array_reverse($cut));
$grown = [];
for ($i = 0; $i < intdiv($scale, 2); $i++) {
    $grown[] = array_fill(0, $i % 13 + 1, $i);
}
$merged = array_merge(...array_slice($grown, 0, 5000));
report('array', count($a), count($cut), count($grown), count($merged),
       digest(implode(',', array_slice($strs, 0, 1000))));
unset($a, $cut, $strs, $grown, $merged);

// string: growth by .=, replacement, explode, word counts.
$s = '';
for ($i = 0; $i < $scale; $i++) {
    $s .= "line $i " . str_repeat('ab', $i % 9) . "\n";
}
$t = str_replace('ab', 'XYZ', $s);
$lines = explode("\n", rtrim($t, "\n"));
$words = [];
foreach (array_slice($lines, 0, intdiv(count($lines), 4)) as $line) {
    foreach (explode(' ', $line) as $w) {
        $words[$w] = ($words[$w] ?? 0) + 1;
    }
}
report('string', strlen($s), strlen($t), count($lines), count($words),
       digest(strtoupper(implode("\n", array_slice($lines, 0, 10000)))));
unset($s, $t, $lines, $words);

// tree: nested arrays built recursively, walked, dropped.
function build($depth, $tag) {
    if ($depth == 0) {
        return ['tag' => $tag, 'kids' => []];
    }
    $kids = [];
    for ($k = 1; $k <= 4; $k++) {
        $kids[] = build($depth - 1, "$tag.$k");
    }
    return ['tag' => $tag, 'kids' => $kids];
}
function walk($n) {
    $sum = strlen($n['tag']);
    foreach ($n['kids'] as $k) {
        $sum += walk($k);
    }
    return $sum;
}
$depth = $scale >= 100000 ? 8 : 6;
$sum = 0;
for ($r = 0; $r < 3; $r++) {
    $sum += walk(build($depth, "r$r"));
}
report('tree', $sum);
report('done', $scale);
