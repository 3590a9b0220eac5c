/* Installed set-uid root in the nonewprivs image: prints the effective uid
 * it runs with, so that a test sees whether exec raised privileges (it must
 * not under no_new_privs). */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	printf("Effective uid: %d\n", (int)geteuid());
	return 0;
}
