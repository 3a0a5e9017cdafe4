/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A second pair of hands for the event loop (see assist.c). The loop posts
 * one piece of work, does its own share, then either takes the piece back
 * (the assistant had not started it) or waits for it to finish. Nothing is
 * ever lost when the assistant is slow, asleep or absent: the loop then
 * does all the work itself.
 */

#include <stdbool.h>

typedef void (*io_assist_fn)(void *arg);

/* Event loop: offer @fn(@arg) to the assistant. Returns false when there
 * is none (one CPU, or it could not be started): run it yourself. */
bool io_assist_post(io_assist_fn fn, void *arg);

/* Event loop, after io_assist_post() returned true: returns once the work
 * posted is done, by the assistant or, if it had not begun, by the caller
 * right here. */
void io_assist_finish(void);
