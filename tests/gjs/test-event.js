// SPDX-License-Identifier: LGPL-2.1-or-later
//
// HkEvent and HkEventType through the typelib from GJS. Prints TAP.

const {GObject} = imports.gi;
imports.gi.versions.Hk = '1';
const Hk = imports.gi.Hk;

let n = 0;
let failed = 0;
function ok(cond, name) {
    n++;
    if (!cond)
        failed++;
    print(`${cond ? 'ok' : 'not ok'} ${n} ${name}`);
}

const expected = {
    CREATED: 'created',
    DELETED: 'deleted',
    MODIFIED: 'modified',
    MOVED: 'moved',
    ATTRIBUTE_CHANGED: 'attribute-changed',
    CLOSED: 'closed',
    OPENED: 'opened',
    CLOSED_NO_WRITE: 'closed-no-write',
};

print(`1..${Object.keys(expected).length + 2}`);
for (const [name, nick] of Object.entries(expected)) {
    ok(Hk.EventType.to_string(Hk.EventType[name]) === nick,
        `EventType.to_string(${name}) is '${nick}'`);
}

const event = Hk.Event.new(Hk.EventType.MOVED, '/tmp/a', '/tmp/b', false, false, 0);
ok(Hk.EventType.to_string(event.get_event_type()) === 'moved', 'to_string of an event\'s type');

// Every value of the registered enum has a name, so a new value cannot be
// added without updating hk_event_type_to_string().
const values = Object.keys(expected).map(k => Hk.EventType[k]);
ok(values.every(v => Hk.EventType.to_string(v) !== null) &&
   GObject.type_from_name('HkEventType') !== 0, 'every value has a name');

if (failed > 0)
    imports.system.exit(1);
