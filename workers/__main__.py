from workers.startup import main

main()
