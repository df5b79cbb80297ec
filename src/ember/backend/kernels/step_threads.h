/* A team of threads started for one call of a recurrent kernel, taking its pieces of work as tickets.
 *
 * A recurrent layer is a chain of short steps (an (N, H) x (H, 4H) product and one elementwise pass: tens of
 * microseconds each). Handing part of every step to a helper through a queue costs more than the part (a
 * wake-up takes 50-200 us on a virtual machine), so the sequence kernels (lstm_sequence.c) start their team
 * once per call and give each thread a whole piece: a block of the batch's rows through every step, or a
 * share of a gradient. The work is a chain of phases, each cut into `pieces` pieces that only need the phases
 * before to be complete. Tickets 0, 1, 2, ... number the pieces in order; each thread takes the next ticket,
 * waits until every piece of the earlier phases is done, does its piece and counts it done. A thread that has
 * lost its core holds no ticket, so the others take the pieces left. A waiting thread spins for a short
 * while, then yields its core to the scheduler, so that a busy host is not made busier. Included once by
 * all.c (it is not a template). */
#ifndef EMBER_STEP_THREADS_H
#define EMBER_STEP_THREADS_H

#include <pthread.h>
#include <sched.h>

#define EMBER_MAX_STEP_THREADS 64
#define EMBER_SPINS_BEFORE_YIELD 2000

static inline void ember_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* `total` pieces, `pieces` to a phase; `next` the next ticket to hand out, `done` the pieces finished. */
struct ember_tickets {
    long long next, done, pieces, total;
};

/* The next ticket, once every piece of the phases before its own is done; -1 when none is left. */
static long long ember_ticket_take(struct ember_tickets *tickets)
{
    long long ticket = __atomic_fetch_add(&tickets->next, 1, __ATOMIC_RELAXED);
    if (ticket >= tickets->total)
        return -1;
    const long long phase_start = ticket - ticket % tickets->pieces;
    long spins = 0;
    while (__atomic_load_n(&tickets->done, __ATOMIC_ACQUIRE) < phase_start) {
        if (++spins < EMBER_SPINS_BEFORE_YIELD)
            ember_pause();
        else
            sched_yield();
    }
    return ticket;
}

/* Count a piece done: what it wrote is visible to whoever sees the count. */
static void ember_ticket_done(struct ember_tickets *tickets)
{
    __atomic_add_fetch(&tickets->done, 1, __ATOMIC_RELEASE);
}

struct ember_team_member {
    void (*work)(void *context);
    void *context;
};

static void *ember_team_entry(void *argument)
{
    struct ember_team_member *member = (struct ember_team_member *)argument;
    member->work(member->context);
    return NULL;
}

/* Numbers first..stop-1 of `total` cut into `parts` shares: share `part`. */
static void ember_share(idx total, idx parts, idx part, idx *first, idx *stop)
{
    *first = total * part / parts;
    *stop = total * (part + 1) / parts;
}

/* A team's size for `total` pieces of work: `threads` (at least 1), at most one a piece. */
static idx ember_team_size(int threads, idx total)
{
    idx size = threads < 1 ? 1 : threads;
    return size > total ? total : size;
}

/* Runs work(context) on the calling thread and on up to threads-1 new ones (fewer where a thread cannot be
 * started: the work is shared by tickets, so any number of threads finishes it); returns how many ran. */
static int ember_team_run(void (*work)(void *), void *context, int threads)
{
    pthread_t helpers[EMBER_MAX_STEP_THREADS];
    struct ember_team_member member = {work, context};
    if (threads > EMBER_MAX_STEP_THREADS)
        threads = EMBER_MAX_STEP_THREADS;
    int started = 1;
    for (int k = 1; k < threads; k++) {
        if (pthread_create(&helpers[k], NULL, ember_team_entry, &member) != 0)
            break;
        started++;
    }
    work(context);
    for (int k = 1; k < started; k++)
        pthread_join(helpers[k], NULL);
    return started;
}

#endif
