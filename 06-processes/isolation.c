/* isolation.c - a child process changes a global; the parent's copy does not
 *
 * Python notes 004's example: money = 100; a child process sets the global money
 * to 666 and prints it; the parent joins the child and prints 100. Each
 * process has its own memory. fork() gives the child a copy of the
 * parent's memory (Linux shares the pages and copies one only when
 * either process writes to it: copy-on-write), so the child's write lands
 * in the child's copy. The program also prints the address of money in
 * both processes: the same virtual address, two different values, because
 * each process has its own address space.
 *
 * To share data, processes must use something outside their memory: a
 * pipe, a socket, a file (lesson 08's tickets), or shared memory (mmap
 * with MAP_SHARED). Lesson 07's basics demo does the same with a thread,
 * and there the change is seen.
 *
 * Usage: ./isolation
 *
 * See also: join.c, ../07-threads/basics.c, NOTES.md.
 * Python notes: 004 (data isolation between processes).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/lab.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int money = 100;

/* task - the child's work: change the global, show it */
static void task(void)
{
    money = 666;
    printf("child  (pid %ld): money = %d   (&money = %p)\n",
           (long)getpid(), money, (void *)&money);
}

int main(int argc, char *argv[])
{
    const struct lab_command cmd = {.about = "fork(): the child changes its copy of a global."};
    pid_t pid;

    lab_parse(argc, argv, &cmd);
    printf("parent (pid %ld): money = %d   (&money = %p) before fork\n",
           (long)getpid(), money, (void *)&money);
    fflush(stdout);                 /* or the child would print this line again */

    pid = fork();
    if (pid == -1)
        die("fork");
    if (pid == 0) {
        task();
        fflush(stdout);
        _exit(0);
    }
    if (waitpid(pid, NULL, 0) == -1)        /* p.join() */
        die("waitpid");
    printf("parent (pid %ld): money = %d   (&money = %p) after the child ended\n",
           (long)getpid(), money, (void *)&money);
    return 0;
}
