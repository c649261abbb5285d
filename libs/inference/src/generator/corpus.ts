/**
 * The fixed English corpus that generated tokenizers are trained on. It is
 * part of the source so that a seed and a set of sizes always give the same
 * tokenizer. Public-domain passages plus plain prose and chat-like exchanges,
 * so that common words, punctuation, digits and newlines all get merges.
 */
export const TRAINING_CORPUS = String.raw`Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in Liberty, and dedicated to the proposition that all men are created equal.

Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a portion of that field, as a final resting place for those who here gave their lives that that nation might live. It is altogether fitting and proper that we should do this.

But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add or detract. The world will little note, nor long remember what we say here, but it can never forget what they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task remaining before us -- that from these honored dead we take increased devotion to that cause for which they gave the last full measure of devotion -- that we here highly resolve that these dead shall not have died in vain -- that this nation, under God, shall have a new birth of freedom -- and that government of the people, by the people, for the people, shall not perish from the earth.

When in the Course of human events, it becomes necessary for one people to dissolve the political bands which have connected them with another, and to assume among the powers of the earth, the separate and equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the opinions of mankind requires that they should declare the causes which impel them to the separation.

We hold these truths to be self-evident, that all men are created equal, that they are endowed by their Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness. That to secure these rights, Governments are instituted among Men, deriving their just powers from the consent of the governed.

It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife. However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.

It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the other way.

Call me Ishmael. Some years ago -- never mind how long precisely -- having little or no money in my purse, and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; then, I account it high time to get to sea as soon as I can.

Happy families are all alike; every unhappy family is unhappy in its own way. Everything was in confusion in the Oblonskys' house. The wife had discovered that the husband was carrying on an intrigue with a French girl, who had been a governess in their family, and she had announced to her husband that she could not go on living in the same house with him.

In a hole in the ground there lived a small animal that liked warm places, quiet evenings and a full kitchen. The house had a round green door with a shiny yellow knob in the exact middle, and the door opened on to a long hall shaped like a tunnel, with panelled walls and floors that were tiled and carpeted.

The weather today is cloudy with a chance of rain in the afternoon. Temperatures will reach 18 degrees in the city and 14 degrees along the coast. Tomorrow will be sunny and warmer, with light winds from the west. By the weekend a new front brings colder air, and the first snow of the year may fall in the mountains above 1200 metres.

To make a simple loaf of bread, mix 500 grams of flour, 10 grams of salt, 7 grams of dried yeast and 320 millilitres of warm water. Knead the dough for ten minutes until it is smooth and elastic. Leave it in a covered bowl for one hour, or until it has doubled in size. Shape the loaf, let it rise again for 45 minutes, and bake it at 220 degrees for about 30 minutes. The bread is ready when it sounds hollow if you tap the bottom.

A computer network is a set of computers that share resources and talk to each other over a common protocol. Every message travels in small packets, and each packet carries the address of the machine it is meant for. Routers read those addresses and forward each packet a little closer to where it is going. When a packet is lost, the sender notices that no answer came back and sends it again.

Language models predict the next word of a text from the words that came before it. They are trained on large collections of books, articles and conversations, and they learn which words tend to follow which. A model does not look up answers in a table; it computes a probability for every token in its vocabulary and the program that runs it picks one, then repeats the process with the new token added to the input.

The river rises in the hills to the north, runs through three small towns and a wide valley of farms, and reaches the sea after two hundred kilometres. In spring the melting snow makes it fast and brown, and in late summer it is slow and clear enough to see the stones on the bottom. Herons stand in the shallows at dawn, and in the evening the swallows fly low over the water.

User: Hello! Can you help me plan a trip to the mountains next month?
Assistant: Of course. How many days do you have, and do you prefer hiking, skiing or simply relaxing in a quiet village?
User: We have five days and we would like to walk, but not too far each day.
Assistant: Then I would suggest staying in one village and taking a different trail every day. Most trails are between 8 and 12 kilometres, with a mountain hut for lunch. Would you like a list of routes?
User: Yes, please. And what should we pack?
Assistant: Good walking shoes, a rain jacket, a warm layer, a hat, sun cream, water, and a small first aid kit. The weather changes quickly in the mountains, so it is always better to carry one more layer than you think you need.

User: What is the difference between a list and a set?
Assistant: A list keeps its items in order and may contain the same item many times. A set has no order and keeps each item only once, which makes it fast to check whether an item is in it.
User: Thanks, that is clear.
Assistant: You're welcome! Let me know if you have any other questions.

Why is the sky blue? Sunlight is made of many colours, and when it passes through the air, the short blue waves are scattered in every direction by the small molecules of gas much more than the long red waves. We see that scattered blue light coming from all parts of the sky. At sunset the light travels through much more air, most of the blue is scattered away before it reaches us, and the sky near the horizon turns orange and red.

Mathematics is the study of numbers, shapes and patterns. The sum of 2 and 3 is 5, the product of 6 and 7 is 42, and the square root of 144 is 12. A prime number has exactly two divisors: 2, 3, 5, 7, 11, 13, 17, 19, 23 and 29 are the first ten primes. In the year 2024 there were 366 days, because it was a leap year, and a week always has 7 days.

The old library stood at the corner of the square. Its reading room was long and high, with tall windows on both sides, and in the afternoon the sun fell in bright bands across the wooden tables. People came to read newspapers, to write letters, to study for their exams, or simply to sit somewhere quiet for an hour. The librarian knew most of them by name and remembered which books they liked.

Good software is written for people first and machines second. Choose clear names, keep functions short, and write tests that describe what the code should do. When something fails, the error message should say what went wrong and what the user can do about it. Small changes that are reviewed and released often are safer than large changes that wait for months.

She opened the window and listened. Somewhere below, a dog was barking, a car door closed, and two neighbours were talking about the price of coffee. "It's gone up again," one of them said. "I don't know how anyone can afford it." The other laughed and said that she had started drinking tea instead, and that she didn't miss coffee at all, which nobody believed.

The garden was at its best in June. There were roses along the wall, white and pale pink, and tall blue flowers in the beds by the path. Bees moved slowly from one flower to the next. At the far end, under the apple tree, there was an old bench where my grandmother used to sit with her book and a cup of tea, and where she would tell us stories about the years when she was young.
`;
