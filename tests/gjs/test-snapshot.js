// test-snapshot.js
//
// SPDX-License-Identifier: LGPL-2.1-or-later

// Hk.Snapshot from JavaScript: take (sync and promisified async), save,
// load, diff, lookup. Run with the build directory of hachiko in
// GI_TYPELIB_PATH and LD_LIBRARY_PATH:
//
//   GI_TYPELIB_PATH=_build/hachiko LD_LIBRARY_PATH=_build/hachiko \
//       gjs tests/gjs/test-snapshot.js
//
// Prints TAP.

const {GLib, Gio} = imports.gi;
imports.gi.versions.Hk = '1';
const Hk = imports.gi.Hk;
const System = imports.system;

Gio._promisify(Hk.Snapshot, 'take_async', 'take_finish');

const NICKS = new Map([
    [Hk.EventType.CREATED, 'created'],
    [Hk.EventType.DELETED, 'deleted'],
    [Hk.EventType.MODIFIED, 'modified'],
    [Hk.EventType.MOVED, 'moved'],
    [Hk.EventType.ATTRIBUTE_CHANGED, 'attribute-changed'],
]);

function assert(condition, what) {
    if (!condition)
        throw new Error(`assertion failed: ${what}`);
}

function assertEqual(actual, expected, what) {
    const a = JSON.stringify(actual), e = JSON.stringify(expected);
    if (a !== e)
        throw new Error(`${what}: expected ${e}, got ${a}`);
}

function write(path, text) {
    GLib.file_set_contents(path, text);
}

class Fixture {
    constructor() {
        this.root = GLib.dir_make_tmp('hachiko-gjs-snapshot-XXXXXX');
        GLib.mkdir_with_parents(this.path('src/lib'), 0o755);
        write(this.path('src/main.c'), 'int main;\n');
        write(this.path('src/lib/a.c'), 'a');
        write(this.path('README'), 'hello');
    }

    path(relative) {
        return GLib.build_filenamev([this.root, relative]);
    }

    take() {
        return Hk.Snapshot.take(Gio.File.new_for_path(this.root), null, null);
    }

    describe(events) {
        const rel = p => p.slice(this.root.length + 1);
        return events.map(e => {
            let line = `${NICKS.get(e.get_event_type())} ${rel(e.get_path())}`;
            if (e.get_dest_path() !== null)
                line += ` -> ${rel(e.get_dest_path())}`;
            return line;
        });
    }

    destroy() {
        GLib.spawn_command_line_sync(`rm -rf ${GLib.shell_quote(this.root)} ${GLib.shell_quote(`${this.root}.snapshot`)}`);
    }
}

const tests = [];
function test(name, func) {
    tests.push({name, func});
}

test('snapshot: take, save, load round trip', f => {
    const snapshot = f.take();
    assertEqual(snapshot.get_n_entries(), 5, 'entries');
    assertEqual(snapshot.n_entries, 5, 'n-entries property');
    assertEqual(snapshot.get_root().get_path(), f.root, 'root');
    const file = Gio.File.new_for_path(`${f.root}.snapshot`);
    assert(snapshot.save(file, null), 'saved');
    const loaded = Hk.Snapshot.load(file, null);
    assertEqual(loaded.get_taken_at(), snapshot.get_taken_at(), 'taken at');
    assertEqual(snapshot.diff(loaded).length, 0, 'diff of equal snapshots');
});

test('snapshot: lookup', f => {
    const snapshot = f.take();
    const [found, type, size, , inode] = snapshot.lookup('src/main.c');
    assert(found, 'found');
    assertEqual(type, Gio.FileType.REGULAR, 'type');
    assertEqual(size, 10, 'size');
    assert(inode > 0, 'inode');
    assert(!snapshot.lookup('missing')[0], 'missing not found');
});

test('snapshot: diff reports a moved directory once', f => {
    const before = f.take();
    Gio.File.new_for_path(f.path('src')).move(Gio.File.new_for_path(f.path('source')),
        Gio.FileCopyFlags.NONE, null, null);
    write(f.path('source/new.c'), 'n');
    const events = before.diff(f.take());
    assertEqual(f.describe(events), ['moved src -> source', 'created source/new.c'], 'events');
    assert(events.every(e => e.get_is_synthetic()), 'synthetic');
});

test('snapshot: corrupt file is an error', f => {
    const file = Gio.File.new_for_path(`${f.root}.snapshot`);
    write(file.get_path(), 'not a snapshot at all');
    let error = null;
    try {
        Hk.Snapshot.load(file, null);
    } catch (e) {
        error = e;
    }
    assert(error !== null && error.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA),
        `INVALID_DATA, got ${error}`);
});

test('snapshot: take_async through a promise, and cancelled', f => {
    const loop = new GLib.MainLoop(null, false);
    const results = [];
    const cancellable = new Gio.Cancellable();
    cancellable.cancel();
    (async () => {
        results.push(await Hk.Snapshot.take_async(Gio.File.new_for_path(f.root), null, null));
        try {
            await Hk.Snapshot.take_async(Gio.File.new_for_path(f.root), null, cancellable);
        } catch (e) {
            results.push(e);
        }
    })().finally(() => loop.quit());
    const timeout = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 30000, () => {
        loop.quit();
        return GLib.SOURCE_REMOVE;
    });
    loop.run();
    GLib.source_remove(timeout);
    assertEqual(results.length, 2, 'two results');
    assertEqual(results[0].get_n_entries(), 5, 'entries');
    assert(results[1] instanceof GLib.Error &&
        results[1].matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED), `cancelled, got ${results[1]}`);
});

let failed = 0;
print(`1..${tests.length}`);
tests.forEach(({name, func}, i) => {
    const fixture = new Fixture();
    try {
        func(fixture);
        print(`ok ${i + 1} ${name}`);
    } catch (e) {
        failed++;
        print(`not ok ${i + 1} ${name}`);
        for (const line of `${e}\n${e.stack}`.split('\n'))
            print(`# ${line}`);
    } finally {
        fixture.destroy();
    }
});

System.exit(failed > 0 ? 1 : 0);
