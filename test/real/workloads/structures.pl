#!/usr/bin/perl
# structures.pl SCALE: builds and drops large Perl data structures for the real-program tests
# (test/real/realtest.py). Debian's perl uses the C library's malloc (usemymalloc=n), so every
# scalar, array, hash and string buffer below is a malloc/realloc/free of whatever allocator the
# process has. Each phase prints counts and a SHA-256 prefix of its result; the output depends on
# SCALE only (hash order is never printed: keys are sorted first).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);

my $scale = shift // 200000;

sub report { print join(' ', @_), "\n"; }
sub digest { return substr(sha256_hex($_[0]), 0, 16); }

# hash: many small entries with array and hash values, half deleted, refilled.
{
    my %h;
    for my $i (0 .. $scale - 1) {
        $h{"key$i"} = [$i, 'v' x ($i % 23), { n => $i }];
    }
    delete $h{"key$_"} for grep { $_ % 2 == 0 } 0 .. $scale - 1;
    $h{"new$_"} = join(',', 0 .. $_ % 17) for 0 .. $scale / 2 - 1;
    my @keys = sort keys %h;
    my $total = 0;
    for my $k (@keys) {
        my $v = $h{$k};
        $total += ref $v ? $v->[0] + length($v->[1]) : length $v;
    }
    my @sample = @keys[grep { $_ % 1000 == 0 } 0 .. $#keys];
    report('hash', scalar(@keys), $total, digest(join('|', @sample)));
}

# arrays: push/splice/sort/reverse/map over large arrays of strings and numbers.
{
    my @a = map { [$_ * 7919 % $scale, "item$_"] } 0 .. $scale - 1;
    my @sorted = sort { $a->[0] <=> $b->[0] || $a->[1] cmp $b->[1] } @a;
    my @cut = splice(@sorted, $scale / 4, $scale / 2);
    my @rev = reverse @cut;
    my @strs = map { $_->[1] . ':' . $_->[0] } @rev;
    my @grown;
    push @grown, [ (1) x ($_ % 13) ] for 0 .. $scale / 2 - 1;
    my $cells = 0;
    $cells += @$_ for @grown;
    report('array', scalar(@sorted), scalar(@cut), $cells,
           digest(join(',', @strs[0 .. 999])));
}

# strings: concatenation in a loop (realloc growth), substitution, split and join.
{
    my $s = '';
    $s .= "line $_ " . ('ab' x ($_ % 9)) . "\n" for 0 .. $scale - 1;
    (my $t = $s) =~ s/ab/XYZ/g;
    my @lines = split /\n/, $t;
    my %words;
    for my $line (@lines[0 .. $#lines / 4]) {
        $words{$_}++ for split / /, $line;
    }
    my $joined = join("\n", map { uc } @lines[0 .. 9999]);
    report('string', length($s), length($t), scalar(@lines), scalar(keys %words),
           digest($joined));
}

# nested: a tree of hashes and arrays built recursively, walked, and dropped.
{
    my $nodes = 0;
    my $build;
    $build = sub {
        my ($depth, $tag) = @_;
        $nodes++;
        return { tag => $tag } if $depth == 0;
        return { tag => $tag, kids => [ map { $build->($depth - 1, "$tag.$_") } 1 .. 4 ] };
    };
    my $walk;
    $walk = sub {
        my ($n) = @_;
        my $sum = length $n->{tag};
        $sum += $walk->($_) for @{ $n->{kids} // [] };
        return $sum;
    };
    my $depth = $scale >= 100000 ? 8 : 6;
    my $sum = 0;
    for my $round (1 .. 3) {
        my $tree = $build->($depth, "r$round");
        $sum += $walk->($tree);
    }
    undef $build;
    undef $walk;
    report('tree', $nodes, $sum);
}

report('done', $scale);
